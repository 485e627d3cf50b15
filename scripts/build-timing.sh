# Helpers shared by scripts/build-cost.sh and scripts/typed-build-cost.sh
# (sourced, not run): the crate's own rustc command as cargo runs it, its
# wall time, and a median. `$OUT` is the generated workspace.

# The exact rustc command cargo runs for crate `$1` (with its environment).
rustc_command() {
  local name="$1" crate="${1//-/_}"
  touch "$OUT/$name/src/lib.rs"
  cargo build --offline -v -p "$name" 2>&1 |
    sed -n "s/^ *Running \`\(.*--crate-name $crate .*\)\`$/\1/p" | head -n 1
}

# Seconds rustc command `$1` takes for crate directory `$2`.
build_seconds() {
  local command="$1" start end
  start=$(date +%s.%N)
  CARGO_MANIFEST_DIR="$OUT/$2" eval "$command" >/dev/null 2>&1 || { echo "rustc failed for $2" >&2; exit 1; }
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
