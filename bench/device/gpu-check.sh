#!/bin/bash
# The GPU check behind the figures of docs/gpu.md. It runs from the repository root on a remote
# Linux machine with an NVIDIA GPU that has no Node.js and no network, so everything travels with it:
#   .device/node.xz      this machine's node binary, xz-compressed
#   .device/nm.tar.xz    node_modules (Dawn's linux-x64 binding, vitest) without the other platforms
#   .device/nm.tar.xz    also holds TensorFlow.js's three packages (package.json and dist/*.node.js only)
#   .device/bundles/     bench/*.ts and bench/device/probe.ts (the adapter report) bundled with esbuild
#                        (`--external:webgpu --external:@tensorflow/*`: tfjs fails when bundled)
#   dist/awm.mjs         the CLI (`npm run build:cli`), which the sweep and defense stages run
#   .device/fmnist/      the Fashion-MNIST test files; .devtrain/ the full set (attack benchmark,
#                        full training). The tree that travels is capped at 64 MiB, so .devtrain goes in
#                        a second call to the still-warm machine, which keeps /tmp/nb and node_modules.
#                        Name every .device/ path that call needs in its carry: carrying .device/bundles
#                        alone left .device/fmnist behind there (the purify runs then found no data).
#   .gl/*.deb            Debian's libvulkan1 and libglvnd packages (the Vulkan loader, the GL dispatch
#                        library NVIDIA's Vulkan driver needs)
# Results land in $OUT (device.log, results.tgz). Stages are time-boxed to a common DEADLINE and the
# archive is rebuilt after each, so a cut-off run still returns what it did.
set -u
T0=$(date +%s)
OUTD=${OUT:-/tmp/out}; RES=/tmp/res; mkdir -p "$OUTD" "$RES"
STAGES=${STAGES:-probe tests kernels dispatch train awmplus}
FM=${FM:-.device/fmnist}
exec > >(tee -a "$OUTD/device.log") 2>&1
step() { echo; echo "=== [$(( $(date +%s) - T0 ))s] $*"; }
pack() { tar -C "$RES" -czf "$OUTD/results.tgz" . 2>/dev/null; }
if [ -z "${SKIP_SETUP:-}" ]; then
  step setup
  for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
  if [ ! -x /tmp/nb/node ] && [ ! -e .device/node.xz ]; then
    echo "COLD MACHINE: /tmp/nb/node is gone and .device/node.xz did not travel (a follow-up call must reach the warm machine)"; exit 4
  fi
  if [ ! -x /tmp/nb/node ]; then
    mkdir -p /tmp/nb; xz -dc .device/node.xz > /tmp/nb/node; chmod +x /tmp/nb/node
  fi
  [ -d node_modules/vitest ] || tar -xJf .device/nm.tar.xz
  export PATH=/tmp/nb:$PATH
  node --version; nvidia-smi -L; nproc
  ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/nvidia/share/vulkan/icd.d 2>/dev/null
  # The image's /usr/share/vulkan/icd.d/nvidia_icd.json names a library that fails to load there; the
  # driver mount's own manifest works (with libglvnd installed).
  if [ -e /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
    export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json; echo "VK_DRIVER_FILES=$VK_DRIVER_FILES"
  fi
fi
export PATH=/tmp/nb:$PATH
has() { [[ " $STAGES " == *" $1 "* ]]; }
DEADLINE=${DEADLINE:-420}
# cap N: the stage's own limit N, cut to what is left before the deadline (0 = skip the stage).
cap() { local left=$(( DEADLINE - ($(date +%s) - T0) )); [ $left -lt 15 ] && { echo 0; return; }; echo $(( $1 < left ? $1 : left )); }
run_stage() { local c; c=$(cap "$1"); shift; if [ "$c" = 0 ]; then echo "skipped: deadline"; return 124; fi; timeout -k 5 "$c" "$@"; local rc=$?; pkill -f dist/awm.mjs; return $rc; }
TEST_DIRS=${TEST_DIRS:-test/shaders test/backends test/ops test/nn test/awm test/memory test/autograd test/optim test/device}
# The WebGPU tests in the background while a stage runs (their timings do not matter), then their summary.
start_tests_beside() {
  AWM_REQUIRE_WEBGPU=1 timeout -k 5 $(cap ${TESTS_S:-170}) node node_modules/vitest/vitest.mjs run $TEST_DIRS \
    --reporter=default --reporter=json --outputFile.json="$RES/vitest.json" > "$RES/vitest.log" 2>&1 &
  TESTS_PID=$!
}
wait_tests_beside() {
  if [ -n "${TESTS_PID:-}" ]; then wait $TESTS_PID; echo "tests rc=$?"; grep -E '✗|×|FAIL|Test Files|Tests |Duration' "$RES/vitest.log" | head -40; TESTS_PID=""; fi
}
if has probe; then
  step probe
  run_stage 60 node .device/bundles/probe.mjs > "$RES/probe.txt" 2>&1; echo "rc=$?"; head -3 "$RES/probe.txt"; grep -E 'preferWork|isSoftware|maxComputeWorkgroupStorage' "$RES/probe.txt"; pack
  grep -q '"isSoftware": false' "$RES/probe.txt" || { echo "NO HARDWARE ADAPTER: stopping"; cat "$RES/probe.txt"; exit 3; }
fi
if has calib; then
  step "faithful one-shot AWM: ours against the PyTorch reference (bench/awm_reference.py) on the same clean sets, seeds ${CALIB_SEEDS:-1,2,3,4,5,6,7,8}"
  SEEDS=${CALIB_SEEDS:-1,2,3,4,5,6,7,8}
  has tests-beside && start_tests_beside
  python3 bench/awm_reference.py check-fixture test/fixtures/awm_round.safetensors > "$RES/calib-fixture.log" 2>&1; echo "fixture rc=$?"; tail -1 "$RES/calib-fixture.log"
  REF_PIDS=""
  for m in badnets blend; do
    timeout -k 5 $(cap ${REF_S:-200}) python3 bench/awm_reference.py run --model models/fmnist_resnet18w16_$m.safetensors --data-dir $FM --seeds $SEEDS \
      --save-clean /tmp/calib --out "$RES/calib-ref-$m.json" > "$RES/calib-ref-$m.log" 2>&1 &
    REF_PIDS="$REF_PIDS $!"
  done
  # Ours with its own draws (clean images and augmented copies from the engine) beside the reference.
  ours_own() { local m=${1%-s*} s=${1##*-s}; node dist/awm.mjs purify --model models/$m.safetensors --clean fashion-mnist --data-dir "$FM" --per-class 1 --seed "$s" \
      --method awm --out /tmp/calib-out/own-$1.safetensors --report "$RES/calib-own-$1.json" > "$RES/calib-own-$1.log" 2>&1; echo "own $1 rc=$? $(grep -E '^after' "$RES/calib-own-$1.log")"; }
  # Ours on the reference's own clean sets (images and copies), so only the batch draws differ.
  ours_same() { local b; b=$(basename "$1" .safetensors); local m=${b%-s*} s=${b##*-s}; node dist/awm.mjs purify --model models/$m.safetensors --clean "$1" --one-shot --augment-copies 0 \
      --eval-dataset fashion-mnist --data-dir "$FM" --seed "$s" --method awm --out /tmp/calib-out/$b.safetensors --report "$RES/calib-ours-$b.json" > "$RES/calib-ours-$b.log" 2>&1; echo "same $b rc=$? $(grep -E '^after' "$RES/calib-ours-$b.log")"; }
  export -f ours_own ours_same; export FM RES; mkdir -p /tmp/calib-out
  for m in badnets blend; do for s in ${SEEDS//,/ }; do echo fmnist_resnet18w16_$m-s$s; done; done | timeout -k 5 $(cap ${OWN_S:-200}) xargs -P ${PAR:-4} -I{} bash -c 'ours_own {}'
  wait $REF_PIDS; echo "reference done"; tail -n 1 "$RES"/calib-ref-*.log; pack
  ls /tmp/calib/*.safetensors | timeout -k 5 $(cap ${SAME_S:-240}) xargs -P ${PAR:-4} -I{} bash -c 'ours_same {}'
  wait_tests_beside
  pack
fi
if has strided; then
  step "strided backward-data: per phase against the dilated grid"
  run_stage ${STRIDED_S:-90} node .device/bundles/kernels.mjs --only strided --forms both --robustness on --tfjs=false --reps ${REPS:-20} --shared-reps ${REPS:-20} --out "$RES/kernels-strided-gpu.json" > "$RES/strided.log" 2>&1; echo "rc=$?"
  grep -E '^\|' "$RES/strided.log" | tail -20; pack
fi
if has tests; then
  step "tests (webgpu-touching directories)"
  export AWM_REQUIRE_WEBGPU=1; run_stage ${TESTS_S:-170} node node_modules/vitest/vitest.mjs run $TEST_DIRS \
    --reporter=default --reporter=json --outputFile.json="$RES/vitest.json" > "$RES/vitest.log" 2>&1; echo "rc=$?"
  grep -E '✗|×|FAIL|Test Files|Tests |Duration' "$RES/vitest.log" | head -40; pack
fi
if has kernels; then
  step kernels
  run_stage ${KERNELS_S:-110} node .device/bundles/kernels.mjs ${KERNELS_ARGS:---forms both --no-split --robustness ${ROBUSTNESS:-both} --reps ${REPS:-20} --shared-reps ${REPS:-20}} --out "$RES/kernels-gpu.json" > "$RES/kernels.log" 2>&1; echo "rc=$?"
  grep -E '^\|' "$RES/kernels.log" | tail -40; pack
fi
if has dispatch; then
  step dispatch
  run_stage 40 node .device/bundles/dispatch.mjs > "$RES/dispatch.log" 2>&1; echo "rc=$?"; tail -8 "$RES/dispatch.log"; pack
fi
if has train; then
  step train
  run_stage ${TRAIN_S:-80} node .device/bundles/train.mjs --data-dir data/fashion-mnist-subset --out "$RES/train-gpu.json" > "$RES/train.log" 2>&1; echo "rc=$?"; grep -E '^\||ms' "$RES/train.log" | tail -15; pack
fi
if has awmplus; then
  step "awm+ on the BadNets ResNet-18 w16, 1 image per class"
  EC=${EVAL_COUNT:-1000}
  run_stage ${AWM_S:-120} node dist/awm.mjs purify --model models/fmnist_resnet18w16_badnets.safetensors --clean fashion-mnist --data-dir .device/fmnist \
    --per-class 1 --eval-count $EC --method awm+ --seed 1 --out /tmp/purified.safetensors --report "$RES/awmplus-badnets-gpu.json" > "$RES/awmplus.log" 2>&1; echo "rc=$?"
  tail -12 "$RES/awmplus.log"; pack
fi
if has attacks; then
  step "attack benchmark (small CNN, full Fashion-MNIST)"
  run_stage ${ATTACKS_S:-900} node .device/bundles/attacks.mjs --data-dir .devtrain > "$RES/attacks.log" 2>&1; echo "rc=$?"
  grep -E '^\||epoch' "$RES/attacks.log" | tail -30; cp bench/results/attacks.json "$RES/attacks-gpu.json" 2>/dev/null
  tar -czf "$OUTD/smallcnn-models.tgz" bench/models 2>/dev/null; pack
fi
if has defense; then
  step "defense table"
  run_stage ${DEFENSE_S:-900} node .device/bundles/defense.mjs --data-dir ${DEF_DATA:-.device/fmnist} --groups ${GROUPS_:-resnet} --per-class ${PERCLASS:-1,10} --eval-count 0 --out "$RES/defense-gpu.json" > "$RES/defense.log" 2>&1; echo "rc=$?"
  tail -25 "$RES/defense.log"; pack
fi
if has suspect; then
  step "suspect search: clean models trained here on the repo's Fashion-MNIST subset, and the two backdoored ResNets, seeds ${SUS_SEEDS:-1,2,3}"
  for a in resnet18 small-cnn; do
    run_stage ${CLEAN_S:-90} node dist/awm.mjs train --dataset fashion-mnist --data-dir data/fashion-mnist-subset --arch $a --width 16 --epochs ${CLEAN_EPOCHS:-8} --seed 0 --out /tmp/clean-$a.safetensors > "$RES/clean-$a.log" 2>&1; echo "train $a rc=$?"; tail -n 2 "$RES/clean-$a.log"
  done
  SUS_PIDS=""
  for m in /tmp/clean-resnet18 /tmp/clean-small-cnn models/fmnist_resnet18w16_badnets models/fmnist_resnet18w16_blend; do
    timeout -k 5 $(cap ${SUS_S:-120}) node .device/bundles/suspect-search.mjs --model $m.safetensors --data-dir $FM --seeds ${SUS_SEEDS:-1,2,3} --out "$RES/suspect-$(basename $m).json" > "$RES/suspect-$(basename $m).log" 2>&1 &
    SUS_PIDS="$SUS_PIDS $!"
  done
  wait $SUS_PIDS; for f in "$RES"/suspect-*.log; do echo "== $f"; grep -E '^seed|rror' "$f" | cut -c1-150; done; pack
fi
if has sweep; then
  step "AWM+ settings sweep, both ResNets, one image per class (tests run beside it: their timings do not matter)"
  has tests-beside && start_tests_beside
  run_stage ${SWEEP_S:-300} node .device/bundles/awm-sweep.mjs --data-dir $FM --parallel ${PAR:-4} --out "$RES/awm-sweep.json" --keep-dir /tmp/kept ${SWEEP_ARGS:-} > "$RES/sweep.log" 2>&1; echo "rc=$?"
  tail -30 "$RES/sweep.log"
  wait_tests_beside
  pack
fi
if has interop; then
  step "PyTorch interop: our models and purified outputs in torch, load_state_dict(strict=True)"
  EXTRA=$(ls /tmp/kept/*.safetensors 2>/dev/null | head -2 | paste -sd,)
  python3 -c 'import torch; print("torch", torch.__version__)'
  run_stage 60 node .device/bundles/torch-interop.mjs --out-dir /tmp/interop-cpu --backend cpu > "$RES/interop.log" 2>&1
  run_stage 60 node .device/bundles/torch-interop.mjs --out-dir /tmp/interop-gpu --backend webgpu --extra "$EXTRA" >> "$RES/interop.log" 2>&1
  run_stage 60 python3 bench/torch_interop.py /tmp/interop-cpu --tol 1e-4 >> "$RES/interop.log" 2>&1; echo "cpu rc=$?"
  run_stage 60 python3 bench/torch_interop.py /tmp/interop-gpu --tol 1e-3 >> "$RES/interop.log" 2>&1; echo "gpu rc=$?"
  cp /tmp/interop-cpu/torch-interop.json "$RES/interop-cpu.json" 2>/dev/null; cp /tmp/interop-gpu/torch-interop.json "$RES/interop-gpu.json" 2>/dev/null
  cat "$RES/interop.log" | grep -v '^$' | tail -20; pack
fi
if has trainfull; then
  step "training to the accuracy goals (full Fashion-MNIST), with the sweep's best settings at more seeds beside it"
  # Plain timeout, not run_stage: its closing pkill would take the sweep's runs down with it.
  timeout -k 5 $(cap ${TRAINFULL_S:-400}) node .device/bundles/train.mjs --full --steps 20 --reps 5 --data-dir .devtrain --out "$RES/train-full-gpu.json" > "$RES/train-full.log" 2>&1 &
  TRAIN_PID=$!
  if has best; then
    run_stage ${BEST_S:-200} node .device/bundles/awm-sweep.mjs --data-dir .devtrain --parallel ${PAR:-4} --out "$RES/awm-sweep.json" --best ${BEST:-3} --best-seeds ${BEST_SEEDS:-2,3} ${SWEEP_ARGS:-} > "$RES/best.log" 2>&1; echo "best rc=$?"
    tail -12 "$RES/best.log"; pack
  fi
  wait $TRAIN_PID; echo "train rc=$?"; grep -E '^\||epoch' "$RES/train-full.log" | tail -30; pack
fi
step done
pack; ls -la "$OUTD"
