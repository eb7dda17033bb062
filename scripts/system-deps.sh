#!/usr/bin/env bash
# Installs the system packages the tests need (Debian, as root); elsewhere says what is missing.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium)
command -v Xvfb >/dev/null 2>&1 || need+=(xvfb)
command -v xdotool >/dev/null 2>&1 || need+=(xdotool)
[ -x /usr/bin/convert ] || need+=(imagemagick)
ldconfig -p 2>/dev/null | grep -q libportaudio.so.2 || need+=(libportaudio2)
fc-list 2>/dev/null | grep -qi 'Noto Color Emoji' || need+=(fonts-noto-color-emoji)
[ -x /usr/bin/firefox-esr ] || need+=(firefox-esr)
command -v iptables >/dev/null 2>&1 || [ -x /usr/sbin/iptables ] || need+=(iptables)
command -v tcpdump >/dev/null 2>&1 || [ -x /usr/bin/tcpdump ] || need+=(tcpdump)
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || need+=(iproute2)
command -v turnserver >/dev/null 2>&1 || [ -x /usr/bin/turnserver ] || need+=(coturn)
command -v janus >/dev/null 2>&1 || [ -x /usr/bin/janus ] || need+=(janus)
# The voice benchmark's speech (bench/voice_audio.py) and the compiler that builds the pesq package.
[ -f /usr/share/sounds/alsa/Front_Center.wav ] || need+=(alsa-utils)
command -v cc >/dev/null 2>&1 || need+=(gcc)
# The TypeScript compiler that type-checks the page's JavaScript (package.json; make test).
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing system packages: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
    echo "missing system packages: ${need[*]}" >&2
    echo "install them (Debian: sudo apt-get install ${need[*]}); the tests that need them fail without them" >&2
    exit 1
fi
