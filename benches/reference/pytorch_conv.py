# PyTorch's conv2d forward on the benchmark shapes of `cargo bench --bench kernels -- conv2d/cpu`,
# for comparison on the same machine: python3 pytorch_conv.py THREADS
import sys, time, torch

threads = int(sys.argv[1])
torch.set_num_threads(threads)
shapes = [(32, 3, 32, 32, 32, 3, 1), (32, 32, 16, 16, 64, 3, 1), (8, 64, 56, 56, 64, 3, 1), (32, 64, 16, 16, 128, 1, 0)]
with torch.no_grad():
    for n, c, h, w, o, k, pad in shapes:
        x = torch.randn(n, c, h, w)
        weight = torch.randn(o, c, k, k)
        flops = 2 * n * o * h * w * c * k * k
        for _ in range(5):
            torch.nn.functional.conv2d(x, weight, padding=pad)
        times = []
        for _ in range(50):
            t = time.perf_counter()
            torch.nn.functional.conv2d(x, weight, padding=pad)
            times.append(time.perf_counter() - t)
        times.sort()
        print(f"torch {torch.__version__} threads {threads} conv2d {n}x{c}x{h}x{w}-{o}x{k}x{k}: {flops / times[len(times) // 2] / 1e9:.1f} GFLOP/s")
