"""How long face detection takes on a 640-pixel photo, and how often it finds no face: MTCNN against Haar.

    .venv/bin/python benchmarks/detection.py
    .venv/bin/python benchmarks/detection.py --count 20 --lfw-dir ../shared/data/lfw_home

Two sets of photos, each holding exactly one face:
- LFW: the first photo of the first ``--count`` people (250 x 250), enlarged to 640 x 640;
- AT&T: one frame per person (92 x 112, greyscale), pasted at a random place on a
  640 x 480 mid-grey background.
Methods: ``facenet_edu.detector.detect_faces`` (MTCNN) with its default smallest face of
20 pixels and with 40 pixels, and, where this OpenCV still ships it (OpenCV 4), the Haar
cascade set up as ``facenet_edu.faces`` used it before MTCNN (equalised histogram, scale
step 1.1, 5 neighbours, faces of 30 pixels or more). Times are per photo on this machine's
CPU with OpenCV's default threads, after one warm-up call that builds the networks, as
wall clock (median, 90th percentile, maximum) and as processor time; the limit column is
the 100 ms a photo may take in the notebooks' live demos.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from facenet_edu.data import find_att_faces  # noqa: E402
from facenet_edu.detector import detect_faces  # noqa: E402
from facenet_edu.faces import find_faces  # noqa: E402

LIMIT_MS = 100.0


def lfw_photos(lfw_dir: Path, count: int) -> list[np.ndarray]:
    """(640, 640, 3) uint8 RGB: the first photo of the first ``count`` people, enlarged."""
    import cv2
    from PIL import Image

    people = sorted(p for p in (lfw_dir / "lfw_funneled").iterdir() if p.is_dir())[:count]
    photos = []
    for person in people:
        rgb = np.asarray(Image.open(sorted(person.glob("*.jpg"))[0]).convert("RGB"))
        photos.append(cv2.resize(rgb, (640, 640), interpolation=cv2.INTER_CUBIC))
    return photos


def att_photos(att_dir: Path, count: int, seed: int = 0) -> list[np.ndarray]:
    """(480, 640) uint8 greyscale: one AT&T frame per person on a mid-grey background, at a random place."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    photos = []
    for person in range(1, min(count, 40) + 1):
        face = np.asarray(Image.open(att_dir / f"s{person}" / "1.pgm"))  # (112, 92)
        canvas = np.full((480, 640), 128, dtype=np.uint8)
        y, x = rng.integers(0, 480 - face.shape[0]), rng.integers(0, 640 - face.shape[1])
        canvas[y : y + face.shape[0], x : x + face.shape[1]] = face
        photos.append(canvas)
    return photos


def haar_detector():
    """A function photo -> number of faces with OpenCV's Haar cascade, or None where OpenCV no longer ships it."""
    import cv2

    if not hasattr(cv2, "CascadeClassifier") or not getattr(cv2, "data", None):
        return None
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    if cascade.empty():
        return None

    def detect(photo: np.ndarray) -> int:
        grey = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY) if photo.ndim == 3 else photo
        found = cascade.detectMultiScale(cv2.equalizeHist(grey), scaleFactor=1.1, minNeighbors=5, minSize=(30, 30))
        return len(found)

    return detect


def measure(detect, photos: list[np.ndarray]) -> tuple[list[float], float, int]:
    """(wall-clock milliseconds per photo, mean CPU milliseconds per photo over all threads, photos with no face found)."""
    detect(photos[0])  # warm-up: builds the networks
    times, missed = [], 0
    cpu_start = time.process_time()
    for photo in photos:
        start = time.perf_counter()
        found = detect(photo)
        times.append(1000 * (time.perf_counter() - start))
        missed += found == 0
    return times, 1000 * (time.process_time() - cpu_start) / len(photos), missed


def main(argv=None) -> None:
    import cv2

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw-dir", type=Path, default=ROOT.parent / "shared" / "data" / "lfw_home")
    parser.add_argument("--att-dir", type=Path, default=None, help="default: facenet_edu.data.find_att_faces()")
    parser.add_argument("--count", type=int, default=40, help="photos per set (AT&T has 40 people)")
    args = parser.parse_args(argv)

    sets = {}
    if (args.lfw_dir / "lfw_funneled").is_dir():
        sets["LFW 250->640x640"] = lfw_photos(args.lfw_dir, args.count)
    att_dir = args.att_dir or find_att_faces()
    if att_dir is not None:
        sets["AT&T on 640x480"] = att_photos(Path(att_dir), args.count)
    if not sets:
        sys.exit("Neither LFW nor the AT&T faces were found; pass --lfw-dir / --att-dir.")

    methods = {
        "MTCNN (min face 20)": lambda photo: len(detect_faces(photo)),
        "MTCNN (min face 40)": lambda photo: len(detect_faces(photo, min_face_size=40)),
        "find_faces (package)": lambda photo: len(find_faces(photo)),  # min face = MIN_FACE_SHARE of the shorter side
    }
    haar = haar_detector()
    if haar is not None:
        methods["Haar cascade"] = haar

    print(f"OpenCV {cv2.__version__}, {cv2.getNumThreads()} threads; Haar cascade: "
          f"{'yes' if haar else 'not shipped with this OpenCV'}")
    header = (f"{'photos':<20} {'method':<22} {'median ms':>10} {'p90 ms':>8} {'max ms':>8} {'limit ms':>9} "
              f"{'CPU ms':>7} {'no face found':>14}")
    print(header)
    print("-" * len(header))
    for set_name, photos in sets.items():
        for method_name, detect in methods.items():
            times, cpu_ms, missed = measure(detect, photos)
            print(f"{set_name:<20} {method_name:<22} {np.median(times):>10.1f} {np.percentile(times, 90):>8.1f} "
                  f"{max(times):>8.1f} {LIMIT_MS:>9.0f} {cpu_ms:>7.1f} {f'{missed} of {len(photos)}':>14}")
    print("ms: wall clock per photo; CPU ms: processor time per photo summed over threads (mean), which a busy")
    print("machine inflates less than the wall clock; limit: what a photo may take in a live demo.")


if __name__ == "__main__":
    main()
