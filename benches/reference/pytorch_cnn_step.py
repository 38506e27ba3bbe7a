# PyTorch's time for `cargo bench --bench step -- step/cnn28`: conv(1→16, 3×3, pad 1), ReLU,
# max-pool 2, conv(16→32, 3×3, pad 1), ReLU, max-pool 2, flatten, linear(1568→10),
# cross-entropy, Adam, batch 64 of 28×28 synthetic images, for comparison on the same
# machine: python3 pytorch_cnn_step.py THREADS (medians of 400 steps after 50 to warm up).
import sys, torch
from step_timer import time_steps
threads = int(sys.argv[1])
torch.set_num_threads(threads)
torch.manual_seed(1)
nn = torch.nn
model = nn.Sequential(
    nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
x = torch.randn(64, 1, 28, 28)
y = torch.tensor([(i * 7) % 10 for i in range(64)])
loss_fn = nn.CrossEntropyLoss()


def step():
    opt.zero_grad(set_to_none=True)
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    loss.item()


print(f"torch {torch.__version__} threads {threads}: {time_steps(step, 50, 400)}")
