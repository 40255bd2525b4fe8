#!/usr/bin/env bash
# Gets the editor tests ready and builds the VS Code extension; .ci/run calls this.
#   - Debian's neovim, emacs-nox and elpa-eglot for tests/test_editors.py
#   - the extension: npm ci, its unit tests (type-check, esbuild bundle), and a .vsix
set -euo pipefail
cd "$(dirname "$0")"

missing=()
for package in neovim emacs-nox elpa-eglot; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "editors/ci.sh: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
nvim --version | head -n 1
emacs --version | head -n 1

cd vscode
npm ci --no-audit --no-fund
npm test
# Packaging runs `vscode:prepublish` (type-check and bundle) and needs no network; it
# prints the vsix's files: the bundle, the manifest, README, LICENSE and the icon.
npm run package
ls -l refact-lsp.vsix
