#!/usr/bin/env bash
# The GPU checks (CUDA tests, PyTorch-CUDA vs onnxruntime-CUDA benchmark, batch classification on
# CUDA) as one prepared script for a lent GPU machine (the `device` tool; 15 minutes in all).
#
# That machine has python3 (3.12) with torch+CUDA, numpy, onnx, safetensors, pytest, tqdm and pandas,
# but no onnxruntime-gpu, no ../shared and no network. onnxruntime-gpu travels as ~60 MB parts,
# one part per call; /tmp survives between calls only while the machine stays warm (30 s).
#
# Here, once (downloads the onnxruntime-gpu wheel from PyPI into .dev/, copies test.csv there):
#   bash bench/gpu_check.sh prepare
# Then device calls, each started within 30 s of the previous one ending (`ls .dev` shows the parts):
#   run  command="bash bench/gpu_check.sh stage"  carry=[".dev/ort.part.a"]                  timeout_s=60
#   run  command="bash bench/gpu_check.sh stage"  carry=[".dev/ort.part.b"]                  timeout_s=60
#   run  command="bash bench/gpu_check.sh stage"  carry=[".dev/ort.part.c"]                  timeout_s=60
#   run  command="bash bench/gpu_check.sh run"    carry=[".dev/ort.part.d", ".dev/gpu"]    timeout_s=540
# (onnxruntime-gpu 1.31.1 packs into 4 parts, a–d: as many `stage` calls as there are parts but one; the last part travels with the `run` call).
# Results come back in $OUT: gpu_check.log, gpu_bench.json, gpu_classify.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
stage_dir=/tmp/ort

stage() {  # copy whatever parts travelled with this call to a folder that outlives the call
  mkdir -p "$stage_dir"
  for f in .dev/ort.part.* .dev/gpu/ort.sha256; do [ -e "$f" ] && cp "$f" "$stage_dir/"; done
  ls -l "$stage_dir"
}

case "${1:-}" in
prepare)
  bash ../shared/tools/pack_ort_gpu.sh
  mkdir -p .dev/gpu
  mv .dev/ort.sha256 .dev/gpu/ort.sha256          # small: travels with the last call
  cp ../shared/data/ag_news/test.csv .dev/gpu/test.csv
  ls -l .dev .dev/gpu
  echo "parts: $(ls .dev/ort.part.* | wc -l); stage all but the last, then run with the last + .dev/gpu"
  ;;
stage)
  stage
  ;;
run)
  stage
  out=${OUT:-/tmp/gpu_out}; mkdir -p "$out"
  exec > >(tee "$out/gpu_check.log") 2>&1
  site=/tmp/site
  (cd "$stage_dir" && cat ort.part.* > ort.tar.xz && sha256sum -c ort.sha256)
  mkdir -p "$site" && tar xJf "$stage_dir/ort.tar.xz" -C "$site"
  # onnxruntime-gpu finds CUDA/cuDNN in the nvidia-* wheels that torch brought, once preloaded.
  printf 'import onnxruntime\nonnxruntime.preload_dlls()\n' > "$site/sitecustomize.py"
  export PYTHONPATH="$site" PYTHONUNBUFFERED=1
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  python3 -c "import onnxruntime as o, torch; print('onnxruntime', o.__version__, o.get_available_providers(), '| torch', torch.__version__, torch.cuda.get_device_name())"

  echo "== 1. CUDA tests (RNN_DEMO_REQUIRE_GPU=1: a test that cannot reach CUDA fails instead of skipping)"
  RNN_DEMO_REQUIRE_GPU=1 python3 -m pytest -q -rs tests/test_runtime.py -k "cuda or gpu or provider" || true

  echo "== 2. benchmark: PyTorch CUDA vs onnxruntime CUDA (IOBinding), TF32 off"
  python3 -m export.bench --models lesson-lstm-packed,bilstm --batch-sizes 1,64,256,1024,8192 \
    --min-time 0.5 --json "$out/gpu_bench.json" || true

  echo "== 3. batch classification on CUDA: test.csv x16 = 121,600 headlines"
  work=/tmp/gpu_classify; mkdir -p "$work"
  python3 - "$work/headlines.jsonl" <<'PY'
import csv, json, sys
rows = list(csv.reader(open(".dev/gpu/test.csv", encoding="utf-8", newline="")))
with open(sys.argv[1], "w", encoding="utf-8") as f:
    for _ in range(16):
        for label, title, desc in rows:
            f.write(json.dumps({"label": int(label) - 1, "text": f"{title} {desc}"}) + "\n")
PY
  for name in lesson-lstm-packed bilstm; do
    python3 -m export --checkpoint "checkpoints/$name" --out "$work/$name.onnx"
    for device in cuda cpu; do
      rm -f "$work/$name.$device.csv"
      start=$(date +%s.%N)
      python3 -m export.classify --model "$work/$name.onnx" --input "$work/headlines.jsonl" \
        --output "$work/$name.$device.csv" --device "$device" --no-progress || true
      end=$(date +%s.%N)
      python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print(f'$name $device: 121,600 rows in {s:.2f} s = {121600/s:,.0f} rows/s end to end')" "$start" "$end"
    done
  done | tee "$out/gpu_classify.txt"
  ;;
*)
  echo "usage: bash bench/gpu_check.sh prepare|stage|run   (see the header)" >&2
  exit 2
  ;;
esac
