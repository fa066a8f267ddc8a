#!/usr/bin/env bash
# Makes the pictures of README.md's "What the network sees" (docs/explain_*.png) and prints
# the sanity-check numbers quoted there. Needs MNIST and MR where cnnkit finds them
# (e.g. CNNKIT_DATA=../shared/data) and the TextCNN fold model of
#   OPENBLAS_NUM_THREADS=1 cnnkit train textcnn --dataset mr --folds 10 --fold-ids 1 --out runs/textcnn
# Run from a checkout: bash docs/explain_pictures.sh   (a few minutes on 2 cores, most of it the sanity run)
set -euo pipefail
cd "$(dirname "$0")/.."
out=runs/explain-docs
cnnkit() { python3 -m cnnkit "$@"; }
cnnkit explain pretrained --mnist-index 0 --method all --out "$out/digit"
cnnkit explain runs/textcnn/model_fold1.safetensors --method ig --color never --out "$out/text" \
    --text "the cast is wonderful, but the script is lazy and the film is a bore."
cnnkit explain depth pretrained --out "$out/depth"
cnnkit explain sanity pretrained --method all --samples 16 --shuffled-labels 2000 --epochs 20 --out "$out/sanity"
cp "$out/digit/overview.png" docs/explain_digit.png
cp "$out/text/text_ig.png" docs/explain_sentence.png
cp "$out/depth/depth.png" docs/explain_depth.png
cp "$out/sanity/sanity.png" docs/explain_sanity.png
