"""How fast a Gallery answers "who is this?" as it grows, against two baselines.

    .venv/bin/python benchmarks/gallery.py                       # up to 100,000 enrolled embeddings
    .venv/bin/python benchmarks/gallery.py --sizes 1000 10000 --dim 64

Every enrolled embedding is a random unit vector (128-D by default), 10 per person.
Methods, each answering the same queries with the same nearest person:
- Gallery.identify: one matrix product (d^2 = |q|^2 + |r|^2 - 2 q.r), then the nearest
  embedding of each person; one query at a time, and a batch of queries at once
  (``identify_embeddings``), per query;
- a brute-force Python loop over every enrolled embedding (numpy per embedding);
- scikit-learn NearestNeighbors (brute force and a ball tree), built once, then queried.
Times are the median over queries, on this machine's CPU; the build column is a
one-off cost (for the Gallery: one enroll_embeddings call per person, then the merge
and sort of its arrays on the first query). The batch is timed five times (median).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from facenet_edu.gallery import Gallery  # noqa: E402


def random_unit(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def median_ms(fn, queries) -> float:
    times = []
    for q in queries:
        start = time.perf_counter()
        fn(q)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def run(size: int, dim: int, num_queries: int, per_person: int, seed: int, loop_limit: int) -> dict[str, tuple[float, float]]:
    """{method: (build ms, median query ms)} for a gallery of ``size`` embeddings."""
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(seed)
    embeddings = random_unit(size, dim, rng)
    owners = np.arange(size) // per_person
    queries = random_unit(num_queries, dim, rng)
    rows = {}

    start = time.perf_counter()
    gallery = Gallery(threshold=1.0)
    for person in range(owners[-1] + 1):
        gallery.enroll_embeddings(f"p{person}", embeddings[person * per_person : (person + 1) * per_person])
    gallery.identify(queries[0])  # the first query merges the enrolments
    build = 1000 * (time.perf_counter() - start)
    answers = [gallery.identify(q).top_k[0][0] for q in queries]
    rows["Gallery.identify (one query)"] = (build, median_ms(gallery.identify, queries))
    batch_ms = median_ms(lambda _: gallery.identify_embeddings(queries), range(5)) / num_queries
    rows[f"Gallery.identify_embeddings ({num_queries} at once), per query"] = (build, batch_ms)
    batch = gallery.identify_embeddings(queries)
    assert [r.top_k[0][0] for r in batch] == answers

    for name, algorithm in [("sklearn NearestNeighbors, brute", "brute"), ("sklearn NearestNeighbors, ball tree", "ball_tree")]:
        start = time.perf_counter()
        index = NearestNeighbors(n_neighbors=1, algorithm=algorithm).fit(embeddings)
        built = 1000 * (time.perf_counter() - start)
        query = lambda q: index.kneighbors(q[None], return_distance=True)  # noqa: E731
        rows[name] = (built, median_ms(query, queries))
        assert [f"p{owners[index.kneighbors(q[None])[1][0, 0]]}" for q in queries] == answers

    if size <= loop_limit:
        def loop(q):
            best, best_i = np.inf, -1
            for i in range(size):
                d = float(np.sqrt(((q - embeddings[i]) ** 2).sum()))
                if d < best:
                    best, best_i = d, i
            return best_i

        rows["Python loop over embeddings"] = (0.0, median_ms(loop, queries[:3]))
        assert f"p{owners[loop(queries[0])]}" == answers[0]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--per-person", type=int, default=10)
    parser.add_argument("--loop-limit", type=int, default=100_000, help="skip the Python loop above this size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{args.dim}-D unit embeddings, {args.per_person} per person; median over {args.queries} queries (the loop: 3)\n")
    print(f"{'enrolled':>9}  {'method':<52}{'build ms':>10}{'query ms':>11}")
    for size in args.sizes:
        for method, (build, query) in run(size, args.dim, args.queries, args.per_person, args.seed, args.loop_limit).items():
            print(f"{size:>9,}  {method:<52}{build:>10.1f}{query:>11.2f}")
        print()


if __name__ == "__main__":
    main()
