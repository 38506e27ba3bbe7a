# PyTorch's time for the sequence-model steps of `cargo bench --bench step`, for comparison
# on the same machine: python3 pytorch_sequence_step.py lstm|gpt THREADS (medians after a
# warm-up). lstm: batch 64, 28 timesteps of 28 inputs, LSTM of 128 units, a linear head on
# the last output, cross-entropy, Adam 1e-3. gpt: nanoGPT's baby GPT (4 pre-norm blocks of
# width 128 with 4 heads and a GELU MLP of 512, learned positions, final LayerNorm, head tied
# to the token embedding), batch 12, context 64, vocabulary 65, AdamW (1e-3, betas 0.9 and
# 0.99, weight decay 0.1), gradients clipped to norm 1.
import sys, torch
from step_timer import time_steps

which, threads = sys.argv[1], int(sys.argv[2])
torch.set_num_threads(threads)
torch.manual_seed(1)


class Gpt(torch.nn.Module):
    def __init__(self, vocab=65, width=128, layers=4, heads=4, context=64):
        super().__init__()
        self.wte = torch.nn.Embedding(vocab, width)
        self.wpe = torch.nn.Parameter(torch.randn(context, width) * 0.02)
        layer = lambda: torch.nn.TransformerEncoderLayer(
            width, heads, 4 * width, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
        self.blocks = torch.nn.ModuleList([layer() for _ in range(layers)])
        self.ln_f = torch.nn.LayerNorm(width)
        self.register_buffer("mask", torch.nn.Transformer.generate_square_subsequent_mask(context))

    def forward(self, ids):
        t = ids.shape[1]
        x = self.wte(ids) + self.wpe[:t]
        for block in self.blocks:
            x = block(x, src_mask=self.mask[:t, :t], is_causal=True)
        return self.ln_f(x) @ self.wte.weight.t()


if which == "lstm":
    lstm = torch.nn.LSTM(28, 128, batch_first=True)
    head = torch.nn.Linear(128, 10)
    params = list(lstm.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    x = torch.randn(64, 28, 28)
    y = torch.tensor([(i * 7) % 10 for i in range(64)])

    def loss_of():
        out, _ = lstm(x)
        return torch.nn.functional.cross_entropy(head(out[:, -1]), y)

    clip = None
    steps = 200
else:
    model = Gpt()
    params = list(model.parameters())
    opt = torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    ids = lambda seed: torch.tensor([(i * 31 + seed * 17) % 65 for i in range(12 * 64)]).view(12, 64)
    x, y = ids(0), ids(1)

    def loss_of():
        return torch.nn.functional.cross_entropy(model(x).view(-1, 65), y.view(-1))

    clip = 1.0
    steps = 300



def step():
    opt.zero_grad(set_to_none=True)
    loss = loss_of()
    loss.backward()
    if clip:
        torch.nn.utils.clip_grad_norm_(params, clip)
    opt.step()
    loss.item()


print(f"torch {torch.__version__} {which} threads {threads}: {time_steps(step, 20, steps)}")
