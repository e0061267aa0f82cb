#!/usr/bin/env sh
# Installs the CJK font the service reports (PDF, Chinese) embed: Debian's fonts-wqy-microhei.
# Run by `make` (install step), CI and the Dockerfile. Without root or apt it only says what to do;
# the report route then answers 503 and its test skips with that reason.
FONT=/usr/share/fonts/truetype/wqy/wqy-microhei.ttc
[ -f "$FONT" ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing the CJK font for service reports (fonts-wqy-microhei)"
  (apt-get install -y -qq fonts-wqy-microhei >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq fonts-wqy-microhei; }) && exit 0
fi
echo "note: CJK font missing; install Debian's fonts-wqy-microhei (or set" \
  "FSM_FIELDWORK_REPORT_FONT to a TrueType CJK font) to render service reports" >&2
exit 0
