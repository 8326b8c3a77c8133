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
