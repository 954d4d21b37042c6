#!/usr/bin/env bash
# Regenerates the shipped example data from the truth specs in specs/truth/ with `odenet simulate`.
# Deterministic: the same seeds give the same files on every machine.
set -euo pipefail
cd "$(dirname "$0")/.."
odenet=${ODENET:-target/release/odenet}

# Lorenz, chaotic regime, 0.5% noise, dt 0.01 (the paper's Box 2).
$odenet simulate specs/truth/lorenz.toml --t-end 20 --dt 0.01 --init x=-8,y=7,z=27 \
  --noise 0.005 --seed 1 -o data/lorenz.csv

# Lotka–Volterra, 1% noise, dt 0.01 (the paper's Table 1).
$odenet simulate specs/truth/lv-overdamped.toml --t-end 10 --dt 0.01 --init x1=3,x2=2 \
  --noise 0.01 --seed 2 -o data/lv-overdamped.csv
$odenet simulate specs/truth/lv-limit-cycle.toml --t-end 20 --dt 0.01 --init x1=20,x2=10 \
  --noise 0.01 --seed 3 -o data/lv-limit-cycle.csv

# The limit cycle sampled coarsely (the paper's Table 2) and with 10% noise (Table 1, last rows).
$odenet simulate specs/truth/lv-limit-cycle.toml --t-end 20 --dt 0.1 --init x1=20,x2=10 \
  --noise 0.01 --seed 4 -o data/lv-limit-cycle-dt0.1.csv
$odenet simulate specs/truth/lv-limit-cycle.toml --t-end 50 --dt 0.5 --init x1=20,x2=10 \
  --noise 0.01 --seed 5 -o data/lv-limit-cycle-dt0.5.csv
$odenet simulate specs/truth/lv-limit-cycle.toml --t-end 20 --dt 0.01 --init x1=20,x2=10 \
  --noise 0.10 --seed 6 -o data/lv-limit-cycle-noise10.csv

# Actin aggregation (the paper's section 4): the physical model (eq. 9) with Table 5's
# coefficients, seven total monomer concentrations per salt, P(0) = M(0) = 0, m(0) = m_tot,
# 20 unequally spaced samples (t_k = T (k/19)^2: dense during the rise), 1% noise, only M observed.
mkdir -p data/actin
$odenet simulate specs/truth/actin-kcl.toml --times 0.0,0.0831,0.3324,0.7479,1.3296,2.0776,2.9917,4.072,5.3186,6.7313,8.3102,10.0554,11.9668,14.0443,16.2881,18.6981,21.2742,24.0166,26.9252,30.0 --init P=0,M=0,m=7.4 \
  --noise 0.01 --seed 101 --columns M -o data/actin/kcl-7.4.csv
$odenet simulate specs/truth/actin-kcl.toml --times 0.0,0.0831,0.3324,0.7479,1.3296,2.0776,2.9917,4.072,5.3186,6.7313,8.3102,10.0554,11.9668,14.0443,16.2881,18.6981,21.2742,24.0166,26.9252,30.0 --init P=0,M=0,m=9.6 \
  --noise 0.01 --seed 102 --columns M -o data/actin/kcl-9.6.csv
$odenet simulate specs/truth/actin-kcl.toml --times 0.0,0.0831,0.3324,0.7479,1.3296,2.0776,2.9917,4.072,5.3186,6.7313,8.3102,10.0554,11.9668,14.0443,16.2881,18.6981,21.2742,24.0166,26.9252,30.0 --init P=0,M=0,m=12.4 \
  --noise 0.01 --seed 103 --columns M -o data/actin/kcl-12.4.csv
$odenet simulate specs/truth/actin-kcl.toml --times 0.0,0.0831,0.3324,0.7479,1.3296,2.0776,2.9917,4.072,5.3186,6.7313,8.3102,10.0554,11.9668,14.0443,16.2881,18.6981,21.2742,24.0166,26.9252,30.0 --init P=0,M=0,m=14.2 \
  --noise 0.01 --seed 104 --columns M -o data/actin/kcl-14.2.csv
$odenet simulate specs/truth/actin-kcl.toml --times 0.0,0.0831,0.3324,0.7479,1.3296,2.0776,2.9917,4.072,5.3186,6.7313,8.3102,10.0554,11.9668,14.0443,16.2881,18.6981,21.2742,24.0166,26.9252,30.0 --init P=0,M=0,m=16.2 \
  --noise 0.01 --seed 105 --columns M -o data/actin/kcl-16.2.csv
$odenet simulate specs/truth/actin-kcl.toml --times 0.0,0.0831,0.3324,0.7479,1.3296,2.0776,2.9917,4.072,5.3186,6.7313,8.3102,10.0554,11.9668,14.0443,16.2881,18.6981,21.2742,24.0166,26.9252,30.0 --init P=0,M=0,m=18.4 \
  --noise 0.01 --seed 106 --columns M -o data/actin/kcl-18.4.csv
$odenet simulate specs/truth/actin-kcl.toml --times 0.0,0.0831,0.3324,0.7479,1.3296,2.0776,2.9917,4.072,5.3186,6.7313,8.3102,10.0554,11.9668,14.0443,16.2881,18.6981,21.2742,24.0166,26.9252,30.0 --init P=0,M=0,m=20.5 \
  --noise 0.01 --seed 107 --columns M -o data/actin/kcl-20.5.csv
$odenet simulate specs/truth/actin-mgcl2.toml --times 0.0,0.0083,0.0332,0.0748,0.133,0.2078,0.2992,0.4072,0.5319,0.6731,0.831,1.0055,1.1967,1.4044,1.6288,1.8698,2.1274,2.4017,2.6925,3.0 --init P=0,M=0,m=6.7 \
  --noise 0.01 --seed 108 --columns M -o data/actin/mgcl2-6.7.csv
$odenet simulate specs/truth/actin-mgcl2.toml --times 0.0,0.0083,0.0332,0.0748,0.133,0.2078,0.2992,0.4072,0.5319,0.6731,0.831,1.0055,1.1967,1.4044,1.6288,1.8698,2.1274,2.4017,2.6925,3.0 --init P=0,M=0,m=8.5 \
  --noise 0.01 --seed 109 --columns M -o data/actin/mgcl2-8.5.csv
$odenet simulate specs/truth/actin-mgcl2.toml --times 0.0,0.0083,0.0332,0.0748,0.133,0.2078,0.2992,0.4072,0.5319,0.6731,0.831,1.0055,1.1967,1.4044,1.6288,1.8698,2.1274,2.4017,2.6925,3.0 --init P=0,M=0,m=11.5 \
  --noise 0.01 --seed 110 --columns M -o data/actin/mgcl2-11.5.csv
$odenet simulate specs/truth/actin-mgcl2.toml --times 0.0,0.0083,0.0332,0.0748,0.133,0.2078,0.2992,0.4072,0.5319,0.6731,0.831,1.0055,1.1967,1.4044,1.6288,1.8698,2.1274,2.4017,2.6925,3.0 --init P=0,M=0,m=14.9 \
  --noise 0.01 --seed 111 --columns M -o data/actin/mgcl2-14.9.csv
$odenet simulate specs/truth/actin-mgcl2.toml --times 0.0,0.0083,0.0332,0.0748,0.133,0.2078,0.2992,0.4072,0.5319,0.6731,0.831,1.0055,1.1967,1.4044,1.6288,1.8698,2.1274,2.4017,2.6925,3.0 --init P=0,M=0,m=17.3 \
  --noise 0.01 --seed 112 --columns M -o data/actin/mgcl2-17.3.csv
$odenet simulate specs/truth/actin-mgcl2.toml --times 0.0,0.0083,0.0332,0.0748,0.133,0.2078,0.2992,0.4072,0.5319,0.6731,0.831,1.0055,1.1967,1.4044,1.6288,1.8698,2.1274,2.4017,2.6925,3.0 --init P=0,M=0,m=20.3 \
  --noise 0.01 --seed 113 --columns M -o data/actin/mgcl2-20.3.csv
$odenet simulate specs/truth/actin-mgcl2.toml --times 0.0,0.0083,0.0332,0.0748,0.133,0.2078,0.2992,0.4072,0.5319,0.6731,0.831,1.0055,1.1967,1.4044,1.6288,1.8698,2.1274,2.4017,2.6925,3.0 --init P=0,M=0,m=22.9 \
  --noise 0.01 --seed 114 --columns M -o data/actin/mgcl2-22.9.csv
