"""Writes recurrent/<case>/ for tests/onnx_nodes.rs: LSTM and GRU nodes in the forms ONNX's
backend node tests leave out (reverse and bidirectional directions, the batch-first layout,
initial states, both forms of the GRU's reset gate, default activations written out), each as model.onnx with input_N.pb and
output_N.pb as the node tests store them. The expected outputs come from the operators'
equations in ONNX's specification, written out below in float64 NumPy; where ONNX's own
reference implementation covers a case (one forward direction), the two are checked to
agree before anything is written.

To regenerate (onnx and NumPy from PyPI):

    python3 -m venv /tmp/onnx-env && /tmp/onnx-env/bin/pip install onnx==1.22.0 numpy
    /tmp/onnx-env/bin/python tests/data/onnx/make_recurrent_cases.py
"""

import shutil
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

here = Path(__file__).resolve().parent / "recurrent"
rng = np.random.default_rng(7)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def lstm_direction(x, w, r, b, h, c):
    """x [T, B, I]; w [4H, I], r [4H, H] and b [8H] in ONNX's gate order i, o, f, c."""
    hidden = r.shape[1]
    wb, rb = b[: 4 * hidden], b[4 * hidden :]
    ys = []
    for xt in x:
        g = xt @ w.T + wb + h @ r.T + rb
        i, o, f, cand = (g[:, k * hidden : (k + 1) * hidden] for k in range(4))
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(cand)
        h = sigmoid(o) * np.tanh(c)
        ys.append(h)
    return np.stack(ys), h, c


def gru_direction(x, w, r, b, h, linear_before_reset):
    """x [T, B, I]; w [3H, I], r [3H, H] and b [6H] in ONNX's gate order z, r, h."""
    hidden = r.shape[1]
    wb, rb = b[: 3 * hidden], b[3 * hidden :]
    block = lambda m, k: m[..., k * hidden : (k + 1) * hidden]  # noqa: E731
    ys = []
    for xt in x:
        xw = xt @ w.T + wb
        z = sigmoid(block(xw, 0) + h @ block(r.T, 0) + block(rb, 0))
        reset = sigmoid(block(xw, 1) + h @ block(r.T, 1) + block(rb, 1))
        if linear_before_reset:
            cand = np.tanh(block(xw, 2) + reset * (h @ block(r.T, 2) + block(rb, 2)))
        else:
            cand = np.tanh(block(xw, 2) + (reset * h) @ block(r.T, 2) + block(rb, 2))
        h = (1 - z) * cand + z * h
        ys.append(h)
    return np.stack(ys), h


def reference(op, inputs, direction, layout, linear_before_reset):
    x, w, r, b, h0 = inputs[:5]
    c0 = inputs[5] if op == "LSTM" else None
    if layout:
        x = x.swapaxes(0, 1)
        h0 = h0.swapaxes(0, 1)
        c0 = None if c0 is None else c0.swapaxes(0, 1)
    reverses = {"forward": [False], "reverse": [True], "bidirectional": [False, True]}
    ys, hs, cs = [], [], []
    for d, reverse in enumerate(reverses[direction]):
        xd = x[::-1] if reverse else x
        if op == "LSTM":
            y, h, c = lstm_direction(xd, w[d], r[d], b[d], h0[d], c0[d])
            cs.append(c)
        else:
            y, h = gru_direction(xd, w[d], r[d], b[d], h0[d], linear_before_reset)
        ys.append(y[::-1] if reverse else y)
        hs.append(h)
    y = np.stack(ys, axis=1)  # [T, D, B, H]
    states = [np.stack(hs)] + ([np.stack(cs)] if op == "LSTM" else [])
    if layout:
        y = y.transpose(2, 0, 1, 3)
        states = [s.swapaxes(0, 1) for s in states]
    return [y] + states


def case(name, op, direction, layout=0, linear_before_reset=0, steps=5, batch=3, size=4, hidden=6,
         explicit_activations=False):
    gates = 4 if op == "LSTM" else 3
    dirs = 2 if direction == "bidirectional" else 1
    seq = (batch, steps) if layout else (steps, batch)
    state = (batch, dirs, hidden) if layout else (dirs, batch, hidden)
    values = [
        rng.standard_normal((*seq, size)),
        rng.standard_normal((dirs, gates * hidden, size)) * 0.5,
        rng.standard_normal((dirs, gates * hidden, hidden)) * 0.5,
        rng.standard_normal((dirs, 2 * gates * hidden)) * 0.5,
        rng.standard_normal(state) * 0.5,
    ]
    names = ["X", "W", "R", "B", "initial_h"]
    if op == "LSTM":
        values.append(rng.standard_normal(state) * 0.5)
        names.append("initial_c")
    values = [v.astype(np.float32) for v in values]
    node_inputs = names[:4] + ["", "initial_h"] + (["initial_c"] if op == "LSTM" else [])
    outputs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
    attributes = dict(hidden_size=hidden, direction=direction, layout=layout)
    if op == "GRU":
        attributes["linear_before_reset"] = linear_before_reset
    if explicit_activations:
        # The defaults written out, as some exporters do.
        per_direction = ["Sigmoid", "Tanh", "Tanh"] if op == "LSTM" else ["Sigmoid", "Tanh"]
        attributes["activations"] = per_direction * dirs
    node = helper.make_node(op, node_inputs, outputs, **attributes)
    expected = reference(op, [v.astype(np.float64) for v in values], direction, layout,
                         linear_before_reset)
    expected = [e.astype(np.float32) for e in expected]
    graph = helper.make_graph(
        [node],
        name,
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, v.shape) for n, v in zip(names, values)],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, e.shape) for n, e in zip(outputs, expected)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    if direction == "forward":
        # ONNX's reference gives Y and Y_h (not an LSTM's Y_c).
        theirs = ReferenceEvaluator(model).run(["Y", "Y_h"], dict(zip(names, values)))
        for mine, other in zip(expected, theirs):
            assert np.allclose(mine, other, rtol=1e-5, atol=1e-6), name
    out = here / name
    out.mkdir(parents=True)
    onnx.save(model, out / "model.onnx")
    for i, (n, v) in enumerate(zip(names, values)):
        (out / f"input_{i}.pb").write_bytes(numpy_helper.from_array(v, n).SerializeToString())
    for i, (n, e) in enumerate(zip(outputs, expected)):
        (out / f"output_{i}.pb").write_bytes(numpy_helper.from_array(e, n).SerializeToString())


shutil.rmtree(here, ignore_errors=True)
case("lstm_forward_states", "LSTM", "forward")
case("lstm_reverse", "LSTM", "reverse")
case("lstm_bidirectional", "LSTM", "bidirectional", explicit_activations=True)
case("lstm_bidirectional_batch_first", "LSTM", "bidirectional", layout=1, steps=1, batch=2)
case("gru_forward_reset_first", "GRU", "forward", linear_before_reset=0)
case("gru_forward_reset_after", "GRU", "forward", linear_before_reset=1)
case("gru_reverse_batch_first", "GRU", "reverse", layout=1, linear_before_reset=1)
case("gru_bidirectional_reset_first", "GRU", "bidirectional", linear_before_reset=0, batch=1)
case("gru_bidirectional_reset_after", "GRU", "bidirectional", linear_before_reset=1, steps=7,
     explicit_activations=True)
print(f"wrote {len(list(here.iterdir()))} cases into {here}")
