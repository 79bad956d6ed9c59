// Package browsertest loads the gateway's live page in a real headless
// Chromium (Debian's chromium, driven through the DevTools protocol by
// chromedp) against the demo pipeline. It is a module of its own so that
// chromedp never enters the services' go.mod; scripts/browser-test.sh
// installs the browser and runs it.
package browsertest
