"""Running the command line inside a test, and the one shape every refusal must have."""

from facenet_edu.cli import main


def run(capsys, *argv):
    """``facenet-edu ARGV`` in this process: (exit status, stdout, stderr)."""
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_error_line(status, err, *needles, after_progress=False):
    """Status 2 and one `error:` line holding every needle, no traceback.

    ``after_progress``: the training progress bar (stderr) came first, and the error is the last line.
    """
    assert status == 2, err
    lines = err.strip().splitlines()
    if after_progress:
        assert all(line.startswith("training") for line in lines[:-1]), err
        lines = lines[-1:]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle.lower() in err.lower(), err


def tiny_checkpoint(folder, seed: int = 0, name: str = "model.pt"):
    """A small untrained network saved as a checkpoint in ``folder`` (16-D embeddings of 32x32 faces, threshold 0.5)."""
    import torch

    from facenet_edu.checkpoint import save_checkpoint
    from facenet_edu.model import EmbeddingNet, ModelConfig

    path = folder / name
    torch.manual_seed(seed)
    save_checkpoint(path, EmbeddingNet(ModelConfig(embedding_dim=16, width=4, image_size=32)), threshold=0.5)
    return path


def enroll(capsys, checkpoint, gallery, name, *images):
    """``facenet-edu enroll`` of face crops (no detection) into ``gallery``."""
    return run(capsys, "enroll", "--checkpoint", checkpoint, "--gallery", gallery, "--name", name, "--no-detect", *images)
