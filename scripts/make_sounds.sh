#!/usr/bin/env bash
# Make metazoo's bundled inputs: 2 s spoken English words, mono, 20 kHz, 16-bit PCM WAV, the word centred.
# Needs espeak-ng and sox (Debian: apt-get install -y espeak-ng sox). Deterministic for a given espeak-ng version
# (made with espeak-ng 1.51 and sox 14.4.2 on Debian 12). Usage: scripts/make_sounds.sh [OUT_DIR]
set -euo pipefail
out="${1:-$(dirname "$0")/../metazoo_core/data/sounds}"
mkdir -p "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# word:voice (espeak-ng voices: en-us male, en-gb, +f2/+f3 female and +m3 male variants); slow speech (90 words/min)
# and a soft compressor keep the peak below 1 once the loader scales the 2 s clip to RMS 0.1 (as the models expect)
words="apple:en-us water:en-us seven:en-us+f3 morning:en-us street:en-gb+f3 people:en-us+m3 family:en-us+f2 money:en-gb"
for entry in $words; do
  word="${entry%%:*}"; voice="${entry#*:}"
  espeak-ng -v "$voice" -s 90 -w "$tmp/$word.raw.wav" "$word"
  # mono, 20 kHz, no dither (deterministic), trim leading/trailing silence, compress, peak-normalise to -3 dBFS
  sox -D "$tmp/$word.raw.wav" -r 20000 -c 1 -b 16 "$tmp/$word.trim.wav" silence 1 0.01 0.5% reverse silence 1 0.01 0.5% reverse compand 0.01,0.2 -70,-70,-40,-18,0,-14 0 -90 0.05 norm -3
  len=$(soxi -s "$tmp/$word.trim.wav")
  total=40000
  if [ "$len" -gt "$total" ]; then echo "$word is longer than 2 s" >&2; exit 1; fi
  before=$(( (total - len) / 2 )); after=$(( total - len - before ))
  sox -D "$tmp/$word.trim.wav" "$out/$word.wav" pad "${before}s" "${after}s"
  echo "$out/$word.wav: $(soxi -D "$out/$word.wav") s"
done
