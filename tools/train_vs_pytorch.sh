#!/usr/bin/env bash
# Training throughput beside PyTorch in the same window: alternates ../shared/peers/torch_bench.py (PyTorch CPU,
# 2 threads, tuned) and `loft bench train-*` ROUNDS times and prints one line per run, then the medians and their ratio.
# These VMs are shared and their speed moves by tens of percent within minutes, so a ratio is only fair between runs
# taken side by side. Not run by CI.
# Needs Debian's PyTorch with OpenBLAS (the default netlib BLAS runs it ~20x slower):
#   apt-get install python3-torch python3-numpy libopenblas0-pthread
# Usage (repository root): tools/train_vs_pytorch.sh [full15|lora15|lora110] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-full15}; rounds=${2:-5}
case "$which" in
  full15) kind=train-full; shape=15M; repeats=7; steps=8 ;;
  lora15) kind=train-lora; shape=15M; repeats=7; steps=8 ;;
  lora110) kind=train-lora; shape=110M; repeats=3; steps=5 ;;
  *) echo "unknown run '$which' (full15, lora15 or lora110)" >&2; exit 2 ;;
esac
peers=../shared/peers
[ -f "$peers/torch_bench.py" ] || { echo "$peers/torch_bench.py not found (../shared beside the repository)" >&2; exit 2; }
dotnet build src/Loft.Cli -c Release -v q --nologo >/dev/null
loft="dotnet ${LOFT_ARTIFACTS:-artifacts}/bin/Loft.Cli/release/loft.dll"
torch_runs=(); loft_runs=()
for r in $(seq "$rounds"); do
  t=$(cd "$peers" && /usr/bin/python3 torch_bench.py --tuned --only "$which" --steps "$steps" 2>&1 |
      awk '/^train/ { for (i = 1; i <= NF; i++) if ($i == "tok/s") print $(i - 2) }')
  l=$($loft bench "$kind" --shape "$shape" --threads 2 --repeats "$repeats" --json 2>/dev/null | tail -n 1 |
      python3 -c 'import json, sys; print(json.loads(sys.stdin.read())["tokens_per_second"])')
  echo "$(date -u +%H:%M:%S) round $r: PyTorch $t tokens/s, Loft $l tokens/s"
  torch_runs+=("$t"); loft_runs+=("$l")
done
python3 - "${torch_runs[*]}" "${loft_runs[*]}" <<'PY'
import statistics, sys
t = [float(x) for x in sys.argv[1].split()]; l = [float(x) for x in sys.argv[2].split()]
print(f"median: PyTorch {statistics.median(t):.0f}, Loft {statistics.median(l):.0f} tokens/s, "
      f"ratio {statistics.median(l) / statistics.median(t):.2f}x; per round {', '.join(f'{b / a:.2f}x' for a, b in zip(t, l))}")
PY
