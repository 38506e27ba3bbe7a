# PyTorch's time for the step of `cargo bench --bench step` (MLP 784-256-256-10, ReLU,
# cross-entropy, Adam, batch 128, synthetic data), for comparison on the same machine:
# python3 pytorch_step.py THREADS (medians of 700 steps after 100 to warm up).
import sys, time, torch
threads = int(sys.argv[1])
torch.set_num_threads(threads)
torch.manual_seed(1)
model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
x = torch.randn(128, 784)
y = torch.tensor([(i * 7) % 10 for i in range(128)])
loss_fn = torch.nn.CrossEntropyLoss()
times = []
for i in range(800):
    t = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    loss.item()
    if i >= 100:
        times.append((time.perf_counter() - t) * 1e3)
times.sort()
n = len(times)
print(f"torch {torch.__version__} threads {threads}: median {times[n//2]:.3f} ms, p10 {times[n//10]:.3f}, p90 {times[n*9//10]:.3f}, mean {sum(times)/n:.3f}")
