"""Token relevance and 1-D Grad-CAM on a TextCNN trained on MR, against a PyTorch twin:
gradient x embedding, integrated gradients on the embeddings (completeness within 1%),
Grad-CAM of the 1-D convolutions (shapes) and its mapping to tokens through each window."""
from __future__ import annotations

import numpy as np
import pytest

from explain_twins import TorchTextCNN, assert_untouched, small_textcnn, snapshot  # noqa: F401 (fixture)
from helpers import torch

from cnnkit import explain
from cnnkit.explain.text import window_tokens

pytestmark = pytest.mark.skipif(torch is None, reason="PyTorch (the oracle) is not installed")


def torch_embedding_grad(twin, ids, targets, scale=1.0):
    emb = (twin.embedding(torch.as_tensor(ids)) * scale).detach().requires_grad_(True)
    twin.from_embedded(emb)[torch.arange(len(ids)), torch.as_tensor(targets)].sum().backward()
    return emb.detach().numpy(), emb.grad.numpy()


def _close(got, want, rtol=1e-4):
    np.testing.assert_allclose(got, want, rtol=0, atol=rtol * float(np.abs(want).max()) + 1e-7)


def test_gradient_x_embedding(small_textcnn):
    model, ids, labels = small_textcnn
    twin = TorchTextCNN(model)
    got = explain.token_relevance(model, ids, labels, "input_x_gradient")
    assert got.shape == ids.shape and got.dtype == np.float32
    e, g = torch_embedding_grad(twin, ids, labels)
    _close(got, (e * g).sum(axis=2))
    assert np.all(got[ids == 0] == 0)  # padding has a zero vector


def test_integrated_gradients_on_embeddings(small_textcnn):
    model, ids, labels = small_textcnn
    twin = TorchTextCNN(model)
    steps = 16
    got = explain.token_relevance(model, ids[:6], labels[:6], "integrated_gradients", steps=steps)
    # the midpoint rule from the zero embedding, in PyTorch: all (point, sentence) rows in one batch
    a = (np.arange(steps) + 0.5) / steps
    scale = torch.tensor(np.repeat(a, 6), dtype=torch.float32)[:, None, None]
    e, g = torch_embedding_grad(twin, np.tile(ids[:6], (steps, 1)), np.tile(labels[:6], steps), scale)
    full = e[:6] / a[0]  # the embeddings themselves
    want = (full * g.reshape(steps, 6, *g.shape[1:]).mean(axis=0)).sum(axis=2)
    _close(got, want, 1e-3)


def test_integrated_gradients_on_embeddings_is_complete(small_textcnn):
    model, ids, labels = small_textcnn
    twin = TorchTextCNN(model)
    # max-over-time switches positions along the path, so the sum converges slowly: 64 steps leave
    # 2.7% on one of these sentences, 256 steps 0.44% at most (measured on all 16)
    got = explain.token_relevance(model, ids, labels, "integrated_gradients", steps=256, batch_size=1024)
    with torch.no_grad():
        emb = twin.embedding(torch.as_tensor(ids))
        gap = (twin.from_embedded(emb) - twin.from_embedded(torch.zeros_like(emb))).numpy()[np.arange(16), labels]
    assert np.all(np.abs(got.sum(axis=1) - gap) <= 0.01 * np.abs(gap)), (got.sum(axis=1), gap)


def torch_cam_1d(twin, ids, targets, conv):
    held = {}

    def hook(module, inputs, output):
        output.retain_grad()
        held["a"] = output

    handle = twin.convs[conv].register_forward_hook(hook)
    try:
        twin(torch.as_tensor(ids))[torch.arange(len(ids)), torch.as_tensor(targets)].sum().backward()
    finally:
        handle.remove()
    a, g = held["a"].detach().double(), held["a"].grad.double()
    return torch.relu((g.mean(dim=2, keepdim=True) * a).sum(dim=1)).numpy()


@pytest.mark.parametrize("conv", [0, 1, 2])
def test_grad_cam_1d_shapes_and_values(small_textcnn, conv):
    model, ids, labels = small_textcnn
    h = model.windows[conv]
    small = explain.grad_cam(model, ids, labels, f"convs.{conv}", upsample=False)
    assert small.shape == (len(ids), ids.shape[1] - h + 1)  # one value per window position
    want = torch_cam_1d(TorchTextCNN(model), ids, labels, conv)
    _close(small, want, 2e-4)
    big = explain.grad_cam(model, ids, labels, f"convs.{conv}")
    assert big.shape == ids.shape  # resized to the sentence length
    ref = torch.nn.functional.interpolate(torch.tensor(want)[:, None], size=ids.shape[1], mode="linear",
                                          align_corners=False)[:, 0].numpy()
    _close(big, ref, 2e-4)


def test_grad_cam_tokens_add_each_window_to_the_tokens_it_reads(small_textcnn):
    model, ids, labels = small_textcnn
    twin = TorchTextCNN(model)
    total = np.zeros(ids.shape)
    for conv, h in enumerate(model.windows):
        cam = torch_cam_1d(twin, ids, labels, conv)
        mapped = np.zeros(ids.shape)
        for t in range(cam.shape[1]):  # window t of width h reads tokens t .. t + h - 1
            mapped[:, t:t + h] += cam[:, t:t + 1]
        got = explain.token_relevance(model, ids, labels, "grad_cam", layer=f"convs.{conv}")
        _close(got, mapped, 2e-4)
        total += mapped
    _close(explain.token_relevance(model, ids, labels, "grad_cam"), total, 2e-4)  # default: every convolution
    m = window_tokens(model, "convs.2", 9)
    assert m.shape == (5, 9) and m[0].tolist() == [1] * 5 + [0] * 4 and m[4].tolist() == [0] * 4 + [1] * 5


def test_text_explanations_leave_the_model_untouched(small_textcnn):
    model, ids, labels = small_textcnn
    model.train()
    before = snapshot(model)
    try:
        for method in ("input_x_gradient", "integrated_gradients", "grad_cam", "grad_cam++"):
            explain.token_relevance(model, ids[:2], None, method, steps=4)
        assert_untouched(model, before)
    finally:
        model.eval()


def test_text_arguments(small_textcnn):
    model, ids, _ = small_textcnn
    with pytest.raises(ValueError, match="method must be one of"):
        explain.token_relevance(model, ids, None, "occlusion")
    with pytest.raises(TypeError, match="integer token ids"):
        explain.token_relevance(model, ids.astype(np.float32))
    with pytest.raises(ValueError, match=r"shape \(N, L\)"):
        explain.token_relevance(model, ids[0])
