"""C-STORE throughput of our archive against DCMTK's storescp and Orthanc.

Three corpora, each sent by DCMTK's storescu over one association with
TCP_NODELAY=1, to each receiver started empty, in the same run:

  a. 200 JPEG-baseline Ophthalmic Photography fundus photographs (camera size,
     from ../shared/data/fundus-dr600/full_res; skipped when absent),
  b. 200 uncompressed 2000x1500 RGB photographs (about 9 MB each),
  c. 1,000 tiny 8x8 images (the per-message cost).

Prints images/s per receiver and our rate as a ratio to each reference.

    python scripts/bench_store.py [--repeat 3] [--corpora abc] [--data DIR]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
from peers import Receiver, fovea, orthanc, stored_count, storescp, storescu

from imaging_common.builders import (
    Equipment,
    Laterality,
    OphthalmicImage,
    Patient,
    Request,
    build_ophthalmic_photograph,
    jpeg_frame_info,
)
from imaging_common.uids import new_uid

RECEIVERS = {"fovea": fovea, "storescp": storescp, "orthanc": orthanc}
DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
IMAGES_PER_STUDY = 10


@dataclass(frozen=True)
class Corpus:
    name: str
    folder: Path
    count: int
    proposal: str  # storescu's transfer syntax proposal option

    @property
    def mean_megabytes(self) -> float:
        sizes = [p.stat().st_size for p in self.folder.iterdir()]
        return sum(sizes) / len(sizes) / 1e6


def write_corpus(folder: Path, images: list[OphthalmicImage], count: int) -> None:
    """Write ``count`` photographs cycling over ``images``, ten to a study."""
    folder.mkdir(parents=True)
    equipment = Equipment(model_name="Benchmark", station_name="BENCH")
    for index in range(count):
        if index % IMAGES_PER_STUDY == 0:
            patient = Patient(f"BENCH{index // IMAGES_PER_STUDY:05d}", "Bench^Patient",
                              date(1970, 1, 1), "O")
            request = Request(new_uid(), accession_number=f"B{index:07d}")
            series = {side: new_uid() for side in Laterality}
        image = images[index % len(images)]
        ds = build_ophthalmic_photograph(image, patient, request, equipment,
                                         series[image.laterality],
                                         instance_number=index % IMAGES_PER_STUDY + 1)
        ds.save_as(folder / f"{index:05d}.dcm", enforce_file_format=True)


def fundus_jpegs(data: Path) -> list[OphthalmicImage]:
    """Camera originals whose JPEG stream the OP IOD takes as it is (4:2:2)."""
    images = []
    for path in sorted((data / "fundus-dr600" / "full_res").glob("*.jpg")):
        jpeg = path.read_bytes()
        if jpeg_frame_info(jpeg).photometric_interpretation == "YBR_FULL_422":
            side = Laterality.RIGHT if path.stem.endswith("_R") else Laterality.LEFT
            images.append(OphthalmicImage(side, jpeg=jpeg))
    return images


def make_corpora(root: Path, wanted: str, data: Path) -> list[Corpus]:
    corpora = []
    if "a" in wanted:
        images = fundus_jpegs(data)
        if images:
            write_corpus(root / "a", images, 200)
            corpora.append(Corpus("a. 200 JPEG fundus", root / "a", 200, "-xy"))
        else:
            print(f"corpus a skipped: no fundus originals under {data}")
    if "b" in wanted:
        rng = np.random.default_rng(0)
        pixels = rng.integers(0, 255, (1500, 2000, 3), dtype=np.uint8)
        write_corpus(root / "b", [OphthalmicImage(Laterality.LEFT, pixels=pixels)], 200)
        corpora.append(Corpus("b. 200 x 9 MB RGB", root / "b", 200, "-xe"))
    if "c" in wanted:
        tiny = OphthalmicImage(Laterality.RIGHT, pixels=np.full((8, 8), 128, np.uint8))
        write_corpus(root / "c", [tiny], 1000)
        corpora.append(Corpus("c. 1000 tiny", root / "c", 1000, "-xe"))
    return corpora


def measure(receiver_name: str, corpus: Corpus, work: Path) -> float:
    """Images/s of one receiver, started empty, for one pass over the corpus."""
    with RECEIVERS[receiver_name](work) as receiver:
        seconds = storescu(receiver, corpus.folder, corpus.proposal)
        check_stored(receiver, corpus)
    return corpus.count / seconds


def check_stored(receiver: Receiver, corpus: Corpus) -> None:
    stored = stored_count(receiver)
    if stored != corpus.count:
        raise SystemExit(f"{receiver.name} stored {stored} of {corpus.count} instances")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="passes per receiver (median)")
    parser.add_argument("--corpora", default="abc", help="which corpora: any of a, b, c")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data folder")
    parser.add_argument("--receivers", default=",".join(RECEIVERS))
    args = parser.parse_args()
    names = args.receivers.split(",")
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        root = Path(tmp)
        for corpus in make_corpora(root / "corpora", args.corpora, args.data):
            rates: dict[str, float] = {}
            for name in names:
                runs = [measure(name, corpus, root / f"{name}-{corpus.folder.name}-{i}")
                        for i in range(args.repeat)]
                rates[name] = statistics.median(runs)
            report(corpus, rates)


def report(corpus: Corpus, rates: dict[str, float]) -> None:
    print(f"\n{corpus.name} ({corpus.mean_megabytes:.2f} MB each)")
    for name, rate in rates.items():
        print(f"  {name:9s} {rate:9.1f} images/s")
    if "fovea" in rates:
        for name, rate in rates.items():
            if name != "fovea":
                print(f"  fovea / {name}: {rates['fovea'] / rate:.2f}")


if __name__ == "__main__":
    main()
