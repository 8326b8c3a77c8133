"""The motivating example: a tiny trained net as a closed-form formula (``python -m wlbridge.demo``).

A 3 -> 2 (sigmoid) -> 2 (sigmoid) -> 2 net, trained on three points, converted with
``wlbridge.from_torch`` and printed as IR, compact and expanded Wolfram Language, expanded sympy,
and checked against the net in the available engines. Needs PyTorch.

The net is trained in float64: the emitted formulas, the numpy reference and WL machine reals are
all double precision, so a float64 net makes the closed form the *same* function as the trained
net (checks agree to ~1e-15 instead of float32's ~1e-7), and the three targets can be fitted to
float64 round-off rather than to float32's ~1e-7.
"""
from __future__ import annotations

import sys
import time

INPUTS = [[-2.0, -2.0, -10.0], [-2.0, -2.0, -9.5], [-2.0, -1.0, -9.0]]
TARGETS = [[-2.2, -2.3], [-2.2, -2.4], [-4.0, -1.23]]


def train_seed_net(seed: int = 1, max_iter: int = 500, attempts: int = 10):
    """Fit the seed net in float64 with full-batch L-BFGS; returns it in eval mode.

    Three points and 18 parameters: an exact fit exists, but from some initialisations the first
    sigmoids saturate on the large third input (-10) and the fit stalls on the plateau that predicts
    the mean (mean squared error 0.5). Each attempt is seeded (``seed``, ``seed + 1``, ...), so the
    result is deterministic; the first one to reach an error below 1e-16 is returned. The default
    seed 1 gets there on the first attempt (about 1 s; seed 0 stalls at 8e-4, seeds 3 and 4 at 0.5).
    """
    import torch
    from torch import nn

    x = torch.tensor(INPUTS, dtype=torch.float64)
    y = torch.tensor(TARGETS, dtype=torch.float64)
    best, best_loss = None, float("inf")
    for attempt in range(attempts):
        torch.manual_seed(seed + attempt)
        model = nn.Sequential(nn.Linear(3, 2), nn.Sigmoid(), nn.Linear(2, 2), nn.Sigmoid(), nn.Linear(2, 2)).double()
        opt = torch.optim.LBFGS(model.parameters(), max_iter=max_iter, history_size=50, tolerance_grad=1e-14,
                                tolerance_change=1e-18, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = torch.mean((model(x) - y) ** 2)
            loss.backward()
            return loss

        opt.step(closure)
        with torch.no_grad():
            loss = torch.mean((model(x) - y) ** 2).item()
        if loss < best_loss:
            best, best_loss = model, loss
        if loss < 1e-16:
            break
    return best.eval()


def show():
    """Train the seed net, print the fit, the IR and the closed forms; returns the converted net."""
    import torch

    import wlbridge as wb

    t0 = time.perf_counter()
    model = train_seed_net()
    with torch.no_grad():
        pred = model(torch.tensor(INPUTS, dtype=torch.float64))
        loss = torch.mean((pred - torch.tensor(TARGETS, dtype=torch.float64)) ** 2).item()
    print(f"trained in {time.perf_counter() - t0:.2f} s, mean squared error {loss:.3g}")
    for x, p, t in zip(INPUTS, pred.tolist(), TARGETS):
        print(f"  {x} -> {[round(v, 4) for v in p]}  (target {t})")
    net = wb.from_torch(model, (3,))
    print(net)
    print(net.to_wl())
    print(net.to_wl(form="expanded"))
    print(net.to_sympy(form="expanded"))
    return net


def main() -> int:
    """Train, convert, print and check the seed net (what ``make demo`` shows)."""
    try:
        import torch
    except ImportError:
        print("wlbridge.demo needs PyTorch: pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu",
              file=sys.stderr)
        return 2
    torch.set_num_threads(1)  # tiny tensors: threads only add overhead
    net = show()
    report = net.check()
    print(report)
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
