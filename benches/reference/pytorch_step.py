# PyTorch's time for the step of `cargo bench --bench step` (MLP 784-256-256-10, ReLU,
# cross-entropy, Adam, batch 128, synthetic data), for comparison on the same machine:
# python3 pytorch_step.py THREADS (medians of 700 steps after 100 to warm up).
import sys, torch
from step_timer import time_steps
threads = int(sys.argv[1])
torch.set_num_threads(threads)
torch.manual_seed(1)
model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
x = torch.randn(128, 784)
y = torch.tensor([(i * 7) % 10 for i in range(128)])
loss_fn = torch.nn.CrossEntropyLoss()


def step():
    opt.zero_grad(set_to_none=True)
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    loss.item()


print(f"torch {torch.__version__} threads {threads}: {time_steps(step, 100, 700)}")
