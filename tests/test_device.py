"""The device contract (docs/architecture.md, "Devices"), embed's input checks, and the same results on CUDA.

The first part runs everywhere (CI has no GPU): where ``embed`` sends tensors is
checked with the "meta" device, which has no data but keeps track of where tensors
are. The tests marked ``cuda`` compare CUDA with the CPU and are skipped without a
GPU (``scripts/gpu_check.sh`` runs them on a CUDA machine).
"""

import copy
import importlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from facenet_edu import EmbeddingNet, FaceNetEduError, ModelConfig, embed, synthetic_dataset
from facenet_edu.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from facenet_edu.course import load_course_model
from facenet_edu.gallery import Gallery
from facenet_edu.losses import (batch_all_triplet_loss, batch_hard_triplet_loss, batch_semihard_triplet_loss,
                                contrastive_loss)
from facenet_edu.mining import mine_triplets, semihard_negatives
from facenet_edu.distances import pairwise_distances
from facenet_edu.model import CROSS_DEVICE_ATOL, model_device
from facenet_edu.offline import mine_offline
from facenet_edu.runtime import pick_device
from facenet_edu.train import TrainConfig, train
from host_waits import HostWaits

SMALL = ModelConfig(embedding_dim=16, width=4, image_size=32)
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
train_module = importlib.import_module("facenet_edu.train")   # the module (facenet_edu.train is the function)
cuda = pytest.mark.cuda
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (scripts/gpu_check.sh runs these)")


@pytest.fixture(scope="module")
def faces():
    return synthetic_dataset(num_identities=6, images_per_identity=4, image_size=32, seed=2)


def _net(seed: int = 0, config: ModelConfig = SMALL) -> EmbeddingNet:
    torch.manual_seed(seed)
    return EmbeddingNet(config).eval()


# ---------------------------------------------------------------- where tensors go (CPU, CI)

class RecordingNet(torch.nn.Module):
    """A stand-in network on the meta device: records where and what its input is, answers on the CPU."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.empty(3, device="meta"))
        self.inputs = []

    def forward(self, images):
        self.inputs.append((images.device, images.dtype, tuple(images.shape)))
        return torch.zeros(images.shape[0], 3)


def test_embed_moves_the_images_to_the_models_device_and_answers_on_the_cpu():
    net = RecordingNet()
    out = embed(net, torch.rand(5, 1, 32, 32, dtype=torch.float64), batch_size=2)
    assert [i[0].type for i in net.inputs] == ["meta"] * 3                  # every batch went where the model is
    assert {i[1] for i in net.inputs} == {torch.float32} and [i[2][0] for i in net.inputs] == [2, 2, 1]
    assert out.device.type == "cpu" and out.shape == (5, 3)


@pytest.mark.parametrize("device", ["meta", "cuda", "cuda:1"])
def test_embed_refuses_a_device_that_disagrees_with_the_model(device):
    net = _net()
    with pytest.raises(FaceNetEduError, match="embed runs where the model is"):
        embed(net, torch.rand(2, 1, 32, 32), device=device)
    assert model_device(net).type == "cpu"                                   # nothing was moved


def test_embed_accepts_the_models_own_device_by_any_name():
    net, x = _net(), torch.rand(3, 1, 32, 32)
    assert torch.equal(embed(net, x, device="cpu"), embed(net, x))
    assert torch.equal(embed(net, x, device=torch.device("cpu")), embed(net, x))
    with pytest.raises(FaceNetEduError, match="Unknown device"):
        embed(net, x, device="gpu0")


def test_a_network_without_weights_is_refused_in_plain_words():
    with torch.device("meta"):
        net = EmbeddingNet(SMALL)
    with pytest.raises(FaceNetEduError, match="meta device"):
        embed(net, torch.rand(2, 1, 32, 32))


def test_mine_offline_follows_the_model(faces):
    with pytest.raises(FaceNetEduError, match="embed runs where the model is"):
        mine_offline(_net(), faces.images, faces.labels, "all", 0.2, 5, torch.Generator().manual_seed(0), device="meta")
    triplets = mine_offline(_net(), faces.images, faces.labels, "all", 0.2, 5, torch.Generator().manual_seed(0))
    assert all(t.device.type == "cpu" and len(t) == 5 for t in triplets)


def test_training_and_loading_put_the_model_on_the_same_default_device(tmp_path, faces):
    model = _net()
    train(model, faces, TrainConfig(num_steps=2, p=3, k=2, progress=False))   # device None: pick_device()
    assert model_device(model) == pick_device() and not model.training
    save_checkpoint(tmp_path / "m.pt", model, TrainConfig(num_steps=2, p=3, k=2))
    assert model_device(load_checkpoint(tmp_path / "m.pt")) == model_device(model) == pick_device()
    assert model_device(read_checkpoint(tmp_path / "m.pt", "cpu").model).type == "cpu"
    assert model_device(load_course_model()) == pick_device()


@pytest.mark.parametrize("loss", ["semi-hard", "batch-hard", "batch-all", "contrastive", "center"])
def test_a_training_step_makes_no_host_wait(faces, monkeypatch, loss):
    """Run as on a GPU (statistics fetched every SYNC_EVERY steps): no wait in a step, train's own files once per check.

    Before issue 21 the loss path waited 12 times per step (inputs.py 3, losses.py 6, mining.py 3).
    """
    monkeypatch.setattr(train_module, "CPU_SYNC_EVERY", train_module.SYNC_EVERY)
    counts = {}
    for num_steps in (train_module.SYNC_EVERY, 2 * train_module.SYNC_EVERY):
        with HostWaits() as waits:
            train(_net(), faces, TrainConfig(loss=loss, num_steps=num_steps, p=3, k=2, device="cpu", progress=False))
        counts[num_steps] = waits.by_file
    extra = {name: counts[2 * train_module.SYNC_EVERY][name] - counts[train_module.SYNC_EVERY][name]
             for name in counts[2 * train_module.SYNC_EVERY]}
    per_step = {name: n / train_module.SYNC_EVERY for name, n in extra.items() if n}
    print(f"{loss}: host waits per step, by file: {per_step}")
    for own in ("train.py", "augment.py", "sampling.py", "runtime.py"):   # the loop's own code
        assert extra.get(own, 0) <= 1, (own, extra)                        # at most one per check
    for path in ("losses.py", "mining.py", "inputs.py", "distances.py"):  # the loss path
        assert extra.get(path, 0) == 0, (path, extra)                      # none


# ---------------------------------------------------------------- embed's input checks (issue 20)

@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_pixels_are_refused(bad):
    x = torch.rand(3, 1, 32, 32)
    x[1, 0, 5, 7] = bad
    with pytest.raises(FaceNetEduError, match="NaN or infinite"):
        embed(_net(), x)


@pytest.mark.parametrize("low, high", [(-0.1, 1.0), (0.0, 255.0), (0.0, 1.0001)])
def test_pixels_outside_zero_one_are_refused(low, high):
    x = torch.rand(2, 1, 32, 32) * (high - low) + low
    x[0, 0, 0, 0], x[0, 0, 0, 1] = low, high
    with pytest.raises(FaceNetEduError, match=r"Pixels must lie in \[0, 1\]"):
        embed(_net(), x)


def test_float_dtypes_are_converted_to_float32():
    net, x = _net(), torch.rand(4, 1, 32, 32)
    reference = embed(net, x)
    assert torch.equal(embed(net, x.double()), embed(net, x.double().float()))
    assert torch.allclose(embed(net, x.double()), reference, atol=1e-6)
    for dtype in (torch.float16, torch.bfloat16):
        assert torch.equal(embed(net, x.to(dtype)), embed(net, x.to(dtype).float()))
        assert embed(net, x.to(dtype)).dtype == torch.float32


def test_uint8_pixels_are_divided_by_255():
    net = _net()
    pixels = torch.randint(0, 256, (3, 1, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    by_hand = torch.tensor(pixels.numpy().astype(np.float32) / np.float32(255))   # NumPy's division, not ours
    assert torch.equal(embed(net, pixels), embed(net, by_hand))


@pytest.mark.parametrize("x", [torch.ones(2, 1, 32, 32, dtype=torch.int64), torch.ones(2, 1, 32, 32, dtype=torch.bool),
                               np.ones((2, 1, 32, 32), np.float32), torch.rand(2, 3, 32, 32)])
def test_other_inputs_are_refused_in_plain_words(x):
    with pytest.raises(FaceNetEduError):
        embed(_net(), x)


def test_train_mode_uses_batch_statistics_on_a_copy():
    net, x = _net(), torch.rand(8, 1, 32, 32)
    before = copy.deepcopy(net.state_dict())
    with torch.no_grad():
        by_hand = copy.deepcopy(net).train()(x)                  # the slow, obvious version
    assert torch.equal(embed(net, x, train_mode=True), by_hand)
    assert not net.training and all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert not torch.allclose(embed(net, x), by_hand, atol=1e-3)   # eval mode is a different network


# ---------------------------------------------------------------- notebooks call the package, not a network

# Direct calls of a network that are part of a lesson, each checked to be safe on any device.
ALLOWED_NETWORK_CALLS = {
    # the layers lesson: a fresh CPU network on CPU images, on every runtime
    ("02_triplet_loss.ipynb", "pooled = network.features(images * 2 - 1).mean(dim=(2, 3))"),
    ("02_triplet_loss.ipynb", "embeddings = network(images)"),
    ("02_triplet_loss.ipynb", "assert torch.allclose(embeddings, F.normalize(network.head(pooled), dim=1), atol=1e-6)"),
    # one forward pass per step: a CPU copy of an untrained CPU network on CPU images
    ("03_choosing_triplets.ipynb", "embeddings_now = step_model(batch_images)"),
    # BatchNorm's two modes, on copies of two CPU networks (model_brief is trained, then moved to the CPU)
    ("03_choosing_triplets.ipynb", "d = fe.pairwise_distances(network(batch_images))"),
    # the paper's training step, written out: model and images moved to `device` in the same cell
    ("04_training.ipynb", "embeddings = step_model(images)"),
}
STRING = re.compile(r"'[^']*'|\"[^\"]*\"")
NETWORK_CALL = re.compile(
    r"(?<![\w.])(\w*(?:model|net|network)\w*)\s*\("   # a bare name holding a network, called: model(x), small_net(x)
    r"|\)\s*\(\s*\w"                                  # a call's result called: copy.deepcopy(model).train()(images)
    r"|\]\s*\(\s*\w"                                  # an item called: nets[0](images)
    r"|\.(?:features|head)\s*\("                      # a network's layers called: model.features(x)
)


def _network_calls(source: str) -> list[str]:
    defined = set(re.findall(r"^\s*def\s+(\w+)", source, flags=re.M))
    lines = []
    source = re.sub(r'([rfbRFB]*)("""|\'\'\')(.*?)\2', '""', source, flags=re.S)  # triple-quoted text (Markdown prose) is not code
    for line in source.splitlines():
        code = STRING.sub('""', line).split("#")[0]  # names inside strings ("course model (LFW)") are not calls
        for match in NETWORK_CALL.finditer(code):
            if match.group(1) is None or match.group(1) not in defined:
                lines.append(line.split("  #")[0].strip())
                break
    return lines


def test_the_scanner_finds_network_calls():
    source = "def new_network(s):\n    pass\nx = copy.deepcopy(model).train()(images)\ny = fe.embed(model, x)\nz = nets[0](x)\n"
    source += "net = new_network(1)\nw = net(images)  # a call\nv = model.features(x)\nu = fe.load_course_model()\n"
    source += 'print(f"course model (LFW): {n}")\nMarkdown(f"""the course model (one model)\nis net(x) in prose""")\n'

    assert _network_calls(source) == ["x = copy.deepcopy(model).train()(images)", "z = nets[0](x)", "w = net(images)",
                                      "v = model.features(x)"]


def test_notebooks_call_no_network_directly_outside_the_listed_lessons():
    found = set()
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        notebook = json.loads(path.read_text())
        defined = "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")
        functions = "\n".join(re.findall(r"^\s*def\s+\w+.*$", defined, flags=re.M))  # functions of any cell
        for cell in notebook["cells"]:
            if cell["cell_type"] == "code":
                found |= {(path.name, line) for line in _network_calls(functions + "\n" + "".join(cell["source"]))}
    assert found <= ALLOWED_NETWORK_CALLS, f"call the package (fe.embed, fe.train) instead: {sorted(found - ALLOWED_NETWORK_CALLS)}"


# ---------------------------------------------------------------- CUDA against the CPU

@pytest.fixture
def exact_float32():
    """TF32 off for a comparison of CUDA and CPU arithmetic in float32; restored afterwards."""
    old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


@cuda
@needs_cuda
def test_embed_on_cuda_agrees_with_the_cpu_within_the_stated_tolerance():
    x = torch.rand(64, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    cpu_model = load_course_model("cpu")
    cuda_model = load_course_model("cuda")
    on_cpu, on_cuda = embed(cpu_model, x), embed(cuda_model, x)                 # TF32 convolutions, PyTorch's default
    assert on_cuda.device.type == "cpu"
    print(f"course model, CPU vs CUDA (TF32 {torch.backends.cudnn.allow_tf32}): max |difference| "
          f"{(on_cpu - on_cuda).abs().max():.2e}, stated tolerance {CROSS_DEVICE_ATOL}")
    assert (on_cpu - on_cuda).abs().max() < CROSS_DEVICE_ATOL
    assert torch.allclose(embed(cuda_model, x.cuda()), on_cuda, atol=1e-6)   # where the images were does not matter
    assert torch.equal(embed(cpu_model, x.cuda()), on_cpu)
    with pytest.raises(FaceNetEduError, match="embed runs where the model is"):
        embed(cpu_model, x, device="cuda")


@cuda
@needs_cuda
def test_a_few_training_steps_on_cuda_match_the_cpu(faces, exact_float32):
    initial = _net(3)
    runs = {}
    for device in ("cpu", "cuda"):
        model = copy.deepcopy(initial)
        history = train(model, faces, TrainConfig(num_steps=4, p=3, k=2, device=device, progress=False))
        runs[device] = model, history
        assert model_device(model).type == device
    (cpu_model, cpu_history), (cuda_model, cuda_history) = runs["cpu"], runs["cuda"]
    gap = (embed(cpu_model, faces.images) - embed(cuda_model, faces.images)).abs().max()
    print(f"4 steps, CPU vs CUDA: losses {np.round(cpu_history.loss, 5)} vs {np.round(cuda_history.loss, 5)}; "
          f"embeddings differ by at most {gap:.2e}")
    assert abs(cpu_history.loss[0] - cuda_history.loss[0]) < 1e-5             # same weights, same batch, same augmentation
    assert cpu_history.active_fraction[0] == cuda_history.active_fraction[0]
    assert np.allclose(cpu_history.loss, cuda_history.loss, atol=1e-2)          # Adam can amplify rounding in later steps
    assert gap < CROSS_DEVICE_ATOL


@cuda
@needs_cuda
def test_losses_and_mining_on_cuda_match_the_cpu(exact_float32):
    generator = torch.Generator().manual_seed(0)
    embeddings = torch.nn.functional.normalize(torch.randn(32, 16, generator=generator), dim=1)
    labels = torch.arange(8).repeat_interleave(4)
    for loss in (batch_semihard_triplet_loss, batch_hard_triplet_loss, batch_all_triplet_loss, contrastive_loss):
        results, grads = {}, {}
        for device in ("cpu", "cuda"):
            x = embeddings.clone().to(device).requires_grad_()
            results[device] = loss(x, labels.to(device), 0.2)
            results[device].loss.backward()
            grads[device] = x.grad.cpu()
        cpu, gpu = results["cpu"], results["cuda"]
        assert abs(float(cpu.loss.detach()) - float(gpu.loss.detach())) < 1e-5, loss.__name__
        assert (cpu.num_valid, cpu.num_active) == (gpu.num_valid, gpu.num_active), loss.__name__
        assert abs(cpu.mean_ap_dist - gpu.mean_ap_dist) < 1e-5 and abs(cpu.mean_an_dist - gpu.mean_an_dist) < 1e-5
        assert torch.allclose(grads["cpu"], grads["cuda"], atol=1e-5), loss.__name__
    for strategy in ("hard", "semi-hard", "easy", "all"):
        cpu, gpu = (mine_triplets(embeddings.to(d), labels.to(d), strategy, 0.2) for d in ("cpu", "cuda"))
        assert all(torch.equal(a, b.cpu()) for a, b in zip(cpu, gpu)), strategy
    cpu, gpu = (semihard_negatives(pairwise_distances(embeddings.to(d)), labels.to(d), 0.2) for d in ("cpu", "cuda"))
    assert all(torch.equal(a, b.cpu()) for a, b in zip(cpu, gpu))


@cuda
@needs_cuda
def test_a_checkpoint_written_from_cuda_reads_on_the_cpu(tmp_path, faces):
    model = _net(4)
    config = TrainConfig(num_steps=3, p=3, k=2, device="cuda", progress=False)
    train(model, faces, config)
    save_checkpoint(tmp_path / "cuda.pt", model, config)
    on_cpu = read_checkpoint(tmp_path / "cuda.pt", "cpu").model
    assert model_device(on_cpu).type == "cpu"
    assert all(torch.equal(a.cpu(), b) for a, b in zip(model.state_dict().values(), on_cpu.state_dict().values()))
    assert (embed(on_cpu, faces.images) - embed(model, faces.images)).abs().max() < CROSS_DEVICE_ATOL
    default = load_checkpoint(tmp_path / "cuda.pt")                             # the default: where training put it
    assert model_device(default).type == "cuda"
    assert torch.allclose(embed(default, faces.images), embed(model, faces.images), atol=1e-5)


@cuda
@needs_cuda
def test_a_gallery_enrolled_on_one_device_answers_queries_from_the_other():
    faces = synthetic_dataset(num_identities=8, images_per_identity=6, image_size=64, seed=5)
    models = {d: load_course_model(d) for d in ("cpu", "cuda")}
    enrol = torch.arange(len(faces)) % 2 == 0                                 # half of each person's images enrol
    for enrolled_on, queried_on in (("cpu", "cuda"), ("cuda", "cpu")):
        gallery = Gallery(threshold=1.0)
        enrolled = embed(models[enrolled_on], faces.images[enrol])
        for person in faces.labels.unique().tolist():
            gallery.enroll_embeddings(str(person), enrolled[faces.labels[enrol] == person])
        same = gallery.identify_embeddings(embed(models[enrolled_on], faces.images[~enrol]))
        other = gallery.identify_embeddings(embed(models[queried_on], faces.images[~enrol]))
        worst = max(abs(a.distance - b.distance) for a, b in zip(same, other))
        print(f"gallery on {enrolled_on}, queries on {queried_on}: distances differ by at most {worst:.2e}")
        assert worst < CROSS_DEVICE_ATOL
        clear = [(a, b) for a, b in zip(same, other) if a.top_k[1][1] - a.top_k[0][1] > 2 * CROSS_DEVICE_ATOL]
        assert len(clear) > len(same) // 2 and all(a.name == b.name for a, b in clear)  # a clear answer stays the same


@cuda
@needs_cuda
def test_a_nan_loss_on_cuda_stops_training_with_the_last_checked_weights(faces, monkeypatch):
    calls = []

    def nan_at_step_29(embeddings, labels, margin, **kwargs):   # the semi-hard loss, NaN at its 30th call (step 29)
        calls.append(1)
        result = batch_semihard_triplet_loss(embeddings, labels, margin, **kwargs)
        return result._replace(loss=result.loss * float("nan")) if len(calls) == 30 else result

    monkeypatch.setitem(train_module.BATCH_LOSSES, "semi-hard", nan_at_step_29)
    model = _net(5)
    step = train_module.SYNC_EVERY * (29 // train_module.SYNC_EVERY) - 1  # the last check before step 29
    with pytest.raises(FaceNetEduError, match=f"diverged at step 29 .*before step {max(step, 0)}"):
        train(model, faces, TrainConfig(num_steps=60, p=3, k=2, device="cuda", progress=False))
    assert all(torch.isfinite(t).all() for t in model.state_dict().values() if t.is_floating_point())
