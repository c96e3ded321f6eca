#!/bin/sh
# Prepares what tests/system/test_preview_browser.py and tests/system/test_preview_jupyterlab.py need;
# idempotent, and never fails the build: whatever cannot be installed makes those tests skip
# with the reason.
#   - Chromium (Debian's /usr/bin/chromium), installed with apt-get when running as root; the
#     JupyterLab test drives it with Playwright (a dev extra whose wheel ships its own driver:
#     no browser is ever downloaded, so no 'playwright install');
#   - the widget JavaScript, @jupyter-widgets/html-manager from npm (pinned), into
#     tests/browser/node_modules_dir (git-ignored). Never a CDN: the test serves it locally.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
HTML_MANAGER_VERSION=1.0.15
PREFIX="$HERE/node_modules_dir"
PACKAGE_JSON="$PREFIX/node_modules/@jupyter-widgets/html-manager/package.json"

if [ -x /usr/bin/chromium ]; then
    echo "setup.sh: Chromium present"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup.sh: installing Chromium with apt-get"
    if ! { apt-get update -q && apt-get install -y -q --no-install-recommends chromium; }; then
        echo "setup.sh: could not install Chromium; the browser test will be skipped" >&2
    fi
else
    echo "setup.sh: no /usr/bin/chromium and not root; the browser test will be skipped" >&2
fi

if [ -f "$PACKAGE_JSON" ] && grep -q "\"version\": \"$HTML_MANAGER_VERSION\"" "$PACKAGE_JSON"; then
    echo "setup.sh: @jupyter-widgets/html-manager@$HTML_MANAGER_VERSION present"
elif command -v npm >/dev/null 2>&1; then
    echo "setup.sh: installing @jupyter-widgets/html-manager@$HTML_MANAGER_VERSION with npm"
    mkdir -p "$PREFIX"
    # --ignore-scripts: nothing from the registry runs here (no package needs a build step).
    if ! npm install --prefix "$PREFIX" --no-audit --no-fund --ignore-scripts --no-save \
        "@jupyter-widgets/html-manager@$HTML_MANAGER_VERSION"; then
        echo "setup.sh: npm install failed; the browser test will be skipped" >&2
    fi
else
    echo "setup.sh: npm not found; the browser test will be skipped" >&2
fi
exit 0
