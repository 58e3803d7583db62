"""The command line: every command works, and bad input ends with one `error:` line and exit status 2."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from facenet_edu import EmbeddingNet, ModelConfig
from facenet_edu.cli import main
from facenet_edu.checkpoint import save_checkpoint


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    torch.manual_seed(0)
    save_checkpoint(path, EmbeddingNet(ModelConfig(embedding_dim=16, width=4, image_size=32)), threshold=0.5,
                    dataset="synthetic", test_identities=[f"synth{i:03d}" for i in range(30, 40)])
    return path


def test_data_summary_synthetic(capsys):
    status, out, _ = run(capsys, "data", "--dataset", "synthetic")
    assert status == 0
    assert "identities:  40" in out and "images:      400" in out and "64 x 64" in out


def test_data_summary_att(capsys, att_dir):
    status, out, _ = run(capsys, "data", "--dataset", "att", "--data-dir", str(att_dir))
    assert status == 0
    assert "identities:  40" in out and "112 x 92" in out


def test_train_then_evaluate_writes_json_for_every_method(capsys, tmp_path):
    model_path, json_path = tmp_path / "m.pt", tmp_path / "r.json"
    status, out, _ = run(capsys, "train", "--num-steps", "3", "--image-size", "32", "--embedding-dim", "16",
                         "--p", "4", "--out", str(model_path))
    assert status == 0 and model_path.exists() and "threshold" in out
    status, out, _ = run(capsys, "evaluate", "--checkpoint", str(model_path), "--dataset", "synthetic", "--no-detect",
                         "--baselines", "--json", str(json_path))
    assert status == 0 and "held out in training" in out
    results = json.loads(json_path.read_text())
    assert set(results) == {"model", "raw_pixels", "eigenfaces"}
    for metrics in results.values():
        for key in ["verification_accuracy", "roc_auc", "tar_at_far_1e-2", "tar_at_far_1e-3", "rank1"]:
            assert 0.0 <= metrics[key] <= 1.0


def test_verify_enroll_identify(capsys, checkpoint, face_files, tmp_path):
    status, out, _ = run(capsys, "verify", "--checkpoint", str(checkpoint), "--no-detect", face_files[0], face_files[1])
    assert status == 0 and "distance" in out and "threshold 0.500" in out
    gallery = str(tmp_path / "gallery")
    status, out, _ = run(capsys, "enroll", "--checkpoint", str(checkpoint), "--gallery", gallery, "--name", "ada",
                         "--no-detect", face_files[0], face_files[1])
    assert status == 0 and "holds 1 people" in out
    status, out, _ = run(capsys, "enroll", "--checkpoint", str(checkpoint), "--gallery", gallery, "--name", "bo",
                         "--no-detect", face_files[2])
    assert "holds 2 people" in out
    status, out, _ = run(capsys, "identify", "--checkpoint", str(checkpoint), "--gallery", gallery, "--no-detect",
                         "--threshold", "2.0", face_files[0])
    assert status == 0 and out.startswith("ada (distance 0.000)")
    status, out, _ = run(capsys, "identify", "--checkpoint", str(checkpoint), "--gallery", gallery, "--no-detect",
                         "--threshold", "0.0", face_files[4])
    assert status == 0 and out.startswith("unknown")


def _assert_one_error_line(status, err):
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err


def test_bad_inputs_give_one_clear_line(capsys, checkpoint, face_files, tmp_path):
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((200, 200), 128, np.uint8)).save(blank)
    not_ckpt = tmp_path / "not.pt"
    not_ckpt.write_text("hello")
    cases = [
        ("verify", "--checkpoint", str(checkpoint), "--no-detect", face_files[0], str(tmp_path / "missing.png")),
        ("verify", "--checkpoint", str(checkpoint), "--no-detect", face_files[0], str(corrupt)),
        ("verify", "--checkpoint", str(checkpoint), "--no-detect", face_files[0], str(text)),
        ("verify", "--checkpoint", str(checkpoint), "--detect", str(blank), face_files[0]),
        ("verify", "--checkpoint", str(not_ckpt), face_files[0], face_files[1]),
        ("identify", "--checkpoint", str(checkpoint), "--gallery", str(tmp_path / "nobody"), face_files[0]),
        ("data", "--dataset", "folder", "--data-dir", str(tmp_path / "empty")),
        ("data", "--dataset", "att"),
    ]
    for argv in cases:
        status, _, err = run(capsys, *argv)
        _assert_one_error_line(status, err)


def test_empty_gallery_is_refused(capsys, checkpoint, face_files, tmp_path):
    gallery = str(tmp_path / "g")
    run(capsys, "enroll", "--checkpoint", str(checkpoint), "--gallery", gallery, "--name", "x", "--no-detect", face_files[0])
    from facenet_edu.gallery import Gallery

    g = Gallery.load(gallery)
    g.remove("x")
    g.save(gallery)
    status, _, err = run(capsys, "identify", "--checkpoint", str(checkpoint), "--gallery", gallery, "--no-detect", face_files[0])
    _assert_one_error_line(status, err)


def test_module_entry_point_runs_as_a_program(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "facenet_edu", "verify", "--checkpoint", str(tmp_path / "none.pt"), "a", "b"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error:") and "Traceback" not in proc.stderr


def test_train_options_come_from_the_config_dataclasses():
    from dataclasses import fields

    from facenet_edu.cli import build_parser
    from facenet_edu.model_commands import MODEL_OPTIONS, TRAIN_OPTIONS
    from facenet_edu.train import LOSSES, TrainConfig

    args = build_parser().parse_args(["train"])
    for config_class, options in [(TrainConfig, TRAIN_OPTIONS), (ModelConfig, MODEL_OPTIONS)]:
        for field in fields(config_class):
            if field.name in options:
                assert getattr(args, field.name) == field.default, field.name
    train_parser = next(a for a in build_parser()._subparsers._group_actions[0].choices.values() if a.prog.endswith("train"))
    loss_action = next(a for a in train_parser._actions if a.dest == "loss")
    assert tuple(loss_action.choices) == LOSSES


def test_detect_is_a_real_switch_and_verify_identify_have_their_own_commands():
    from facenet_edu.cli import build_parser
    from facenet_edu.face_commands import cmd_identify, cmd_verify

    parser = build_parser()
    assert parser.parse_args(["verify", "--checkpoint", "m", "a", "b"]).detect is True
    assert parser.parse_args(["verify", "--checkpoint", "m", "--no-detect", "a", "b"]).detect is False
    assert parser.parse_args(["identify", "--checkpoint", "m", "--gallery", "g", "--detect", "a"]).detect is True
    assert parser.parse_args(["verify", "--checkpoint", "m", "a", "b"]).func is cmd_verify
    assert parser.parse_args(["identify", "--checkpoint", "m", "--gallery", "g", "a"]).func is cmd_identify


def test_usage_errors_are_one_line_and_help_is_status_0(capsys):
    status, _, err = run(capsys, "verify", "--checkpoint")
    _assert_one_error_line(status, err)
    status, out, _ = run(capsys, "train", "--help")
    assert status == 0 and "--margin" in out and "default: 0.2" in out


def test_every_checkpoint_goes_through_one_resolver(capsys, monkeypatch, tmp_path):
    import facenet_edu.face_commands as face_commands
    import facenet_edu.model_commands as model_commands
    from facenet_edu.errors import FaceNetEduError

    seen = []

    def resolver(value):
        seen.append(value)
        raise FaceNetEduError("resolver reached")

    for module in (model_commands, face_commands):  # face_commands imports the one resolver from model_commands
        monkeypatch.setattr(module, "open_checkpoint", resolver)
    for argv in [("evaluate", "--checkpoint", "c1"), ("verify", "--checkpoint", "c2", "a", "b"),
                 ("enroll", "--checkpoint", "c3", "--gallery", str(tmp_path / "g"), "--name", "x", "a"),
                 ("identify", "--checkpoint", "c4", "--gallery", str(tmp_path / "g"), "a")]:
        status, _, err = run(capsys, *argv)
        assert status == 2 and "resolver reached" in err
    assert seen == ["c1", "c2", "c3", "c4"]
