"""Integration checks found in a new-user pass over the merged features (files written by torch, read back)."""
import numpy as np
import pytest

import wlbridge as wb

torch = pytest.importorskip("torch")
nn, F = torch.nn, torch.nn.functional
pytestmark = [pytest.mark.torch]


class Resize(nn.Module):
    def __init__(self, **kw):
        super().__init__()
        self.kw = kw

    def forward(self, x):
        return F.interpolate(x, **self.kw)


@pytest.mark.parametrize("kw, shape", [
    (dict(scale_factor=0.5), (1, 2, 4, 4)),
    (dict(size=(5, 7), mode="bilinear"), (1, 2, 4, 4)),
    (dict(scale_factor=2, mode="bilinear", align_corners=True), (1, 1, 3, 3)),
    (dict(size=7, mode="linear"), (1, 2, 4)),
    (dict(scale_factor=1.5), (1, 1, 4, 4)),
])
def test_pt2_interpolate_is_read(tmp_path, kw, shape):
    """torch.export records F.interpolate as aten.upsample_*.vec: the .pt2 reader converts it."""
    m = Resize(**kw).eval()
    path = tmp_path / "resize.pt2"
    torch.export.save(torch.export.export(m, (torch.randn(*shape),)), str(path))
    net = wb.load(path)
    x = torch.randn(3, *shape[1:], dtype=torch.float64)
    np.testing.assert_allclose(net(x.numpy()), m(x).numpy(), rtol=1e-12, atol=1e-12)


class Slices(nn.Module):
    def forward(self, x):
        return x[:, 1:3, ::2].flip(1)[:, :, 1:] * 2


class LastStep(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.lstm, self.fc = nn.LSTM(3, 4, batch_first=True), nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.lstm(x)[0][:, -1])


@pytest.mark.parametrize("module, shape", [(Slices, (4, 6)), (LastStep, (5, 3))])
def test_pt2_slices_save_as_wlnet(tmp_path, module, shape):
    """Slices of a .pt2 net (x[:, -1] of an LSTM classifier, steps, flips) are written as PartLayers."""
    m = module().double().eval()
    pt2, wlnet = tmp_path / "m.pt2", tmp_path / "m.wlnet"
    torch.export.save(torch.export.export(m, (torch.randn(1, *shape, dtype=torch.float64),)), str(pt2))
    wb.save_wlnet(wb.load(pt2), wlnet)
    back = wb.load(wlnet)
    x = np.random.default_rng(0).standard_normal((3, *shape))
    np.testing.assert_allclose(back(x), m(torch.from_numpy(x)).detach().numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape, normalized, affine", [((3,), 3, True), ((2, 4), 4, True), ((3, 2, 4), (2, 4), True),
                                                       ((2, 4), 4, False)])
def test_layernorm_saves_as_normalization_layer(tmp_path, shape, normalized, affine):
    """The layernorm op (torch LayerNorm, ONNX LayerNormalization) is written as NormalizationLayer and reads back."""
    from wlbridge.frontends.wolfram.netwriter import assoc_from_net

    torch.manual_seed(0)
    m = nn.LayerNorm(normalized, elementwise_affine=affine).double().eval()
    if affine:
        with torch.no_grad():
            m.weight.normal_(), m.bias.normal_()
    net = wb.from_torch(m, shape)
    nodes = assoc_from_net(net)["Nodes"]
    assert "Normalization" in [n["Type"] for n in (nodes.values() if isinstance(nodes, dict) else nodes)]
    wb.save_wlnet(net, tmp_path / "ln.wlnet")
    x = np.random.default_rng(0).standard_normal((3, *shape))
    want = m(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(wb.load(tmp_path / "ln.wlnet")(x), want, rtol=1e-10, atol=1e-10)


def test_printed_sympy_defines_every_symbol_it_uses():
    """`wlbridge convert --to sympy` of a recurrent net prints the shared t1, t2, ... it refers to, in order."""
    import re

    torch.manual_seed(0)
    net = wb.from_torch(nn.LSTM(3, 2, batch_first=True).double().eval(), (3, 3))
    defined = set(net.input_names)
    lines = str(net.to_sympy()).splitlines()
    assert any(line.startswith("t1 = ") for line in lines)
    for line in lines:
        name, rhs = line.split(" = ", 1)
        used = {u for u in re.findall(r"\b[a-z]\w*\b", rhs) if re.fullmatch(r"[a-z]\d+(_\d+)*", u)}
        assert used <= defined, (name, used - defined)
        defined |= {name} | {u for u in re.findall(rf"\b{name}_[\d_]+\b", " ".join(lines))}


def test_cli_size_refusal_names_cli_options(tmp_path, capsys):
    """`wlbridge convert --form expanded` past the limit tells the CLI user about --form / --max-size."""
    from wlbridge.cli import main

    torch.manual_seed(0)
    net = wb.from_torch(nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 8)).double().eval(), (4,))
    wb.save_wlnet(net, tmp_path / "m.wlnet")
    assert main(["convert", str(tmp_path / "m.wlnet"), "--form", "expanded", "--max-size", "10"]) == 2
    err = capsys.readouterr().err
    assert "--form compact" in err and "--max-size 10" in err and "form='compact'" not in err
