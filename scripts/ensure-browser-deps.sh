#!/usr/bin/env bash
# What the browser tests (tests/web) need, installed when missing and quiet when present:
#   - Chromium from Debian's packages (/usr/bin/chromium), never a browser download, plus a sans-serif font;
#   - axe-core and nhsuk-frontend from the npm registry, pinned, into var/npm (gitignored).
# `--build-css` also recompiles service_finder/web/static/service-finder.css from
# service_finder/web/styles/service-finder.scss with Sass (npm), for after a change to either; the compiled file
# is committed, so serving the page never needs Node.js.
set -euo pipefail
cd "$(dirname "$0")/.."

AXE_CORE=4.14.1
NHSUK_FRONTEND=10.6.1
SASS=1.108.2
NPM_DIR=var/npm

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "ensure-browser-deps: need root to run: $*" >&2; exit 1
  fi
}

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -d /usr/share/fonts/truetype/liberation ] || missing+=(fonts-liberation)
[ -d /usr/share/fonts/truetype/dejavu ] || missing+=(fonts-dejavu-core)
if [ ${#missing[@]} -gt 0 ]; then
  echo "ensure-browser-deps: installing ${missing[*]} from Debian's packages" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

installed_version() {
  node -p "require('./$NPM_DIR/node_modules/$1/package.json').version" 2>/dev/null || true
}

wanted=("axe-core@$AXE_CORE" "nhsuk-frontend@$NHSUK_FRONTEND")
[ "${1:-}" = "--build-css" ] && wanted+=("sass@$SASS")
need_npm=0
for spec in "${wanted[@]}"; do
  [ "$(installed_version "${spec%@*}")" = "${spec##*@}" ] || need_npm=1
done
if [ "$need_npm" -eq 1 ]; then
  if ! command -v npm >/dev/null; then
    echo "ensure-browser-deps: installing npm from Debian's packages" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
  fi
  echo "ensure-browser-deps: installing ${wanted[*]} into $NPM_DIR" >&2
  mkdir -p "$NPM_DIR"
  [ -f "$NPM_DIR/package.json" ] || echo '{"private": true}' > "$NPM_DIR/package.json"
  (cd "$NPM_DIR" && npm install --silent --no-audit --no-fund --save-exact "${wanted[@]}" 2>&1 \
    | grep -v 'Unknown user config' >&2 || true)
  for spec in "${wanted[@]}"; do
    [ "$(installed_version "${spec%@*}")" = "${spec##*@}" ] || {
      echo "ensure-browser-deps: ${spec} did not install into $NPM_DIR" >&2; exit 1; }
  done
fi

if [ "${1:-}" = "--build-css" ]; then
  "$NPM_DIR/node_modules/.bin/sass" --load-path="$NPM_DIR/node_modules" --style=compressed --no-source-map \
    --quiet-deps service_finder/web/styles/service-finder.scss service_finder/web/static/service-finder.css
  cp "$NPM_DIR/node_modules/nhsuk-frontend/dist/nhsuk/assets/images/nhsuk-icon-cross.svg" \
    service_finder/web/static/images/
  echo "ensure-browser-deps: wrote service_finder/web/static/service-finder.css" >&2
fi
