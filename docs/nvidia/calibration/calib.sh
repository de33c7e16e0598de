#!/bin/bash
# Calibration on the GPU machine: how T_prod and T_ker scale per work unit
# with klo-probe on NVIDIA's OpenCL, and a few K points.
set -u
PROBE=$1; OUTF=$2
W=$(mktemp -d)
synth() { # N P U -> kernel file
  f=$W/k-$1-$2-$3.txt; : > $f; for i in $(seq $1); do echo "synth $3 $2" >> $f; done; echo $f; }
stats() { # log -> mean t_prod (kernels>0), mean t_ker, mean t_flush, mean latency (iter>0)
  python3 - "$1" <<'PY'
import sys,re,statistics as st
tp=[];tk=[];tf=[];lat=[]
for l in open(sys.argv[1]):
    if not l.startswith('KLO v1 net='): continue
    d=dict(kv.split('=',1) for kv in l.split()[2:] if '=' in kv)
    if int(d['iter'])==0: continue
    if 'latency_us' in d: lat.append(float(d['latency_us'])); continue
    k=int(d['kernel']); tk.append(float(d['t_ker_us']))
    if k>0: tp.append(float(d['t_prod_us']))
    if 't_flush_us' in d: tf.append(float(d['t_flush_us']))
m=lambda x: st.mean(x) if x else float('nan')
print(f"t_prod={m(tp):.2f} t_ker={m(tk):.2f} t_flush={m(tf):.2f} latency={m(lat):.1f} lat_sd={st.pstdev(lat) if lat else 0:.1f}")
PY
}
run() { # label file k submit flushunits
  $PROBE -f $2 -n x -i 8 -k $3 -s $4 -d opencl -F $5 > $W/log 2>$W/err || { echo "$1 FAILED: $(cat $W/err)"; return; }
  echo "$1 k=$3 s=$4 F=$5 $(stats $W/log)"
}
{
$PROBE -f $(synth 4 1000 1000) -n x -i 1 -k 1 -d opencl | head -1
echo "== T_ker vs device units (P=6000, native, K=1, F=0)"
for U in 1000 100000 1000000 4000000 16000000 64000000; do run "U=$U" $(synth 30 6000 $U) 1 native 0; done
echo "== T_prod vs host units (U=1000, native, K=1, F=0)"
for P in 0 6000 25000 100000; do run "P=$P" $(synth 30 $P 1000) 1 native 0; done
echo "== flush cost: F=0 vs 12000, native and deferred (P=6000 U=1000, K=1)"
for s in native deferred; do for F in 0 12000; do run "flush" $(synth 30 6000 1000) 1 $s $F; done; done
echo "== K effect (P=12000, F=12000)"
for U in 100000 1000000 4000000 16000000; do for s in native deferred; do for k in 1 4 32; do run "U=$U" $(synth 30 12000 $U) $k $s 12000; done; done; done
echo "== K effect, F=0"
for U in 100000 4000000; do for s in native deferred; do for k in 1 4 32; do run "U=$U" $(synth 30 12000 $U) $k $s 0; done; done; done
} 2>&1 | tee $OUTF
