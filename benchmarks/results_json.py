"""The medians of a train_throughput.py (or sample_throughput.py) text output as JSON, for chapter 14's figure.

Reads the 'round k/R: contender mode value, ...' lines that the scripts print (so a run stopped before its table was
printed still gives its completed rounds), takes each (contender, mode)'s median over the rounds it completed, and
writes one JSON file with every input run:

  python benchmarks/results_json.py benchmarks/results/train_throughput_cuda_best.txt benchmarks/results/train_throughput_cuda.txt \
      --out benchmarks/results/train_throughput_cuda.json
"""
import argparse, json, re, statistics
from pathlib import Path

def rounds(text: str) -> dict:
    "{(contender, mode): [value per round]} from the round lines."
    out = {}
    for line in text.splitlines():
        m = re.match(r"\s*round \d+/\d+: (.*)", line)
        if not m: continue
        for entry in m.group(1).split(", "):
            name, value = entry.rsplit(" ", 1)
            contender, mode = name.split(" ", 1) if not name.split(" ")[1] in ("net", "ddim") else (" ".join(name.split(" ")[:2]), name.split(" ", 2)[2])
            out.setdefault((contender, mode), []).append(float(value))
    return out

def header(text: str, key: str) -> str:
    m = re.search(key, text)
    return m.group(1) if m else "?"

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("files", nargs="+"); p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    runs = []
    for f in a.files:
        text = Path(f).read_text()
        rows = [dict(contender=c, mode=m, img_s=statistics.median(v), rounds=len(v)) for (c, m), v in rounds(text).items()]
        runs.append(dict(file=Path(f).name, gpu=header(text, r"device cuda: ([^,]+),"), batch_size=int(header(text, r"batch (\d+)")), rows=rows))
    Path(a.out).write_text(json.dumps(dict(model="DDPM CIFAR-10 UNet (35.7M parameters)", runs=runs), indent=1) + "\n")

if __name__ == "__main__":
    main()
