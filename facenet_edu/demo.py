"""The package's main job on the embedded default: the whole FaceNet story in about two minutes, offline.

Generate synthetic faces, train a triplet network with semi-hard mining, evaluate it
on people it never saw against raw pixels and eigenfaces, enrol a gallery, identify a
few new faces (one of them a stranger), and save the key figures.
"""

from pathlib import Path

import torch

from .data import synthetic_dataset
from .splits import split_by_identity
from .model import ModelConfig, embed
from .runtime import fast_mode, seed_everything
from .train import TrainConfig

def run_demo(out_dir: str | Path = "demo_output", num_steps: int | None = None, seed: int = 0) -> dict:
    """Run the demo, print what happens, save figures to ``out_dir``; return the results.

    Args:
        out_dir: folder for the figures (created if missing).
        num_steps: training steps; default 600, or 40 in fast mode (``FACENET_EDU_FAST=1``).
        seed: one seed for data, split, model and training.

    Returns:
        dict with ``results`` (metrics per method), ``threshold``, ``identified``
        (list of (true name, predicted name, distance)) and ``figures`` (paths).
    """
    from .course import train_with_threshold
    from .evaluate import evaluate_model, format_metrics_table

    fast = fast_mode()
    num_steps = (40 if fast else 600) if num_steps is None else num_steps  # 0 is refused by TrainConfig, not replaced
    seed_everything(seed)

    print("1. Synthetic faces: every person is a set of face parameters; every image adds pose, light, expression, glasses, noise.")
    data = synthetic_dataset(num_identities=60, images_per_identity=12, image_size=64, seed=seed)
    train_val, test = split_by_identity(data, num_test_identities=12, seed=seed)
    fit, val = split_by_identity(train_val, num_test_identities=8, seed=seed + 1)
    print(f"   {fit.num_identities} people to train on, {val.num_identities} to choose the threshold, "
          f"{test.num_identities} never seen in training ({len(data)} images, 64x64)")

    print(f"\n2. Training a triplet network: P x K batches, semi-hard negatives mined online, {num_steps} steps")
    train_config = TrainConfig(loss="semi-hard", margin=0.2, num_steps=num_steps, p=12, k=4, seed=seed)
    model, history, threshold = train_with_threshold(ModelConfig(embedding_dim=64, image_size=64), fit, val, train_config)
    print(f"   {history.seconds:.0f} s; loss {history.loss[0]:.3f} -> {history.loss[-1]:.3f}")

    print("\n3. A new image needs no triplets: one forward pass gives a unit-length embedding, compared by distance.")
    print(f"   verification threshold {threshold:.3f}, chosen on validation people (the margin 0.2 is not the threshold)")

    print(f"\n4. Unseen people ({test.num_identities}): the trained embedding against raw pixels and eigenfaces")
    results = evaluate_model(model, test, baselines=True, train_dataset=train_val)
    print(format_metrics_table(results))

    print("\n5. A gallery: enrol 6 unseen people from 2 images each, then identify new images")
    test_emb = embed(model, test.images)
    identified = _identify_some(test, test_emb, threshold)
    figures = _save_figures(Path(out_dir), data, test, test_emb, history, model, threshold, seed)
    print(f"\n6. Figures written to {out_dir}/: " + ", ".join(p.name for p in figures.values()))
    return {"results": results, "threshold": float(threshold), "identified": identified, "figures": figures}


def _identify_some(test, test_emb: torch.Tensor, threshold: float) -> list[tuple[str, str, float]]:
    """Enrol six test people from two images each; identify three of them and a stranger; print and return the answers."""
    from .gallery import Gallery

    gallery = Gallery()
    people = test.labels.unique().tolist()
    enrolled, stranger = people[:6], people[6]
    identified = []
    for person in enrolled:
        idx = torch.nonzero(test.labels == person).squeeze(1)
        gallery.enroll_embeddings(test.names[person], test_emb[idx[:2]])
    for person in [*enrolled[:3], stranger]:
        probe = torch.nonzero(test.labels == person).squeeze(1)[-1]
        result = gallery.identify(test_emb[probe], threshold, top_k=3)
        truth = test.names[person] if person in enrolled else f"{test.names[person]} (not enrolled)"
        identified.append((truth, result.name, result.distance))
        print(f"   {truth:<24} -> {result.name:<10} distance {result.distance:.3f}")
    return identified


def _save_figures(out: Path, data, test, test_emb: torch.Tensor, history, model, threshold: float, seed: int) -> dict:
    """Draw the demo's five figures (the distances computed here, the plots only draw) and save them as PNG files."""
    import matplotlib

    matplotlib.use("Agg")  # the demo writes files; it never opens a window
    from .distances import all_pair_distances, pair_distances
    from .pairs import make_pairs
    from .verification import roc_curve_dists
    from .metric_plots import plot_pair_histograms, plot_roc, plot_training_curves
    from .viz import fit_umap, plot_embedding_2d, project, show_identities

    out.mkdir(parents=True, exist_ok=True)
    ti, tj, t_same = make_pairs(test.labels, seed=seed)
    fpr, tpr, _ = roc_curve_dists(pair_distances(test_emb, ti, tj), t_same)
    all_emb = embed(model, data.images)
    reducer = fit_umap(all_emb, seed=seed)
    is_unseen = torch.isin(data.labels, test.labels.unique())
    figures = {
        "identities": show_identities(test.images, test.labels, test.names, num_identities=6, per_identity=6),
        "training": plot_training_curves(history),
        "histograms": plot_pair_histograms(*all_pair_distances(test_emb, test.labels), margin=0.2,
                                                    threshold=threshold, title="unseen people"),
        "roc": plot_roc(fpr, tpr, label="triplet embedding"),
        "umap": plot_embedding_2d(project(reducer, all_emb), data.labels.numpy(), is_unseen=is_unseen.numpy(),
                                  title="UMAP of the embedding (hollow: people never seen in training)"),
    }
    files = {"training": "training_curves.png", "histograms": "distance_histograms.png"}
    paths = {}
    for name, fig in figures.items():
        paths[name] = out / files.get(name, f"{name}.png")
        fig.savefig(paths[name], dpi=100, bbox_inches="tight")
    return paths
