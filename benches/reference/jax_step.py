# JAX's time for the step of `cargo bench --bench step` (MLP 784-256-256-10, ReLU,
# cross-entropy, Adam, batch 128, synthetic data), the whole step (forward, backward and
# Adam's update) one jit-compiled XLA computation, for comparison on the same machine:
# python3 jax_step.py THREADS (medians of 700 steps after 100 to warm up). The process is
# pinned to THREADS cores before JAX starts, which sizes XLA's thread pool; with one thread
# XLA's Eigen pool is off as well.
import os
import sys

threads = int(sys.argv[1])
os.sched_setaffinity(0, set(range(threads)))
if threads == 1:
    os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
import jax
import jax.numpy as jnp
from step_timer import time_steps

key = jax.random.PRNGKey(1)
sizes = [784, 256, 256, 10]
params = []
for fan_in, fan_out in zip(sizes, sizes[1:]):
    # PyTorch's Linear initialization: uniform in ±1/√fan_in.
    key, kw, kb = jax.random.split(key, 3)
    bound = 1.0 / fan_in ** 0.5
    params.append((jax.random.uniform(kw, (fan_in, fan_out), minval=-bound, maxval=bound),
                   jax.random.uniform(kb, (fan_out,), minval=-bound, maxval=bound)))
x = jax.random.normal(key, (128, 784))
y = jnp.array([(i * 7) % 10 for i in range(128)])


def loss_fn(params, x, y):
    h = x
    for i, (w, b) in enumerate(params):
        h = h @ w + b
        if i < len(params) - 1:
            h = jax.nn.relu(h)
    logp = jax.nn.log_softmax(h)
    return -jnp.mean(logp[jnp.arange(x.shape[0]), y])


@jax.jit
def train_step(params, m, v, t, x, y):
    loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
    t = t + 1
    b1, b2, lr, eps = 0.9, 0.999, 1e-3, 1e-8
    m = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, m, grads)
    v = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, v, grads)
    params = jax.tree.map(
        lambda p, m, v: p - lr * (m / (1 - b1 ** t)) / (jnp.sqrt(v / (1 - b2 ** t)) + eps),
        params, m, v)
    return params, m, v, t, loss


zeros = jax.tree.map(jnp.zeros_like, params)
state = [params, zeros, zeros, jnp.float32(0.0)]


def step():
    p, m, v, t, loss = train_step(*state, x, y)
    state[:] = [p, m, v, t]
    float(loss)


print(f"jax {jax.__version__} threads {threads}: {time_steps(step, 100, 700)}")
