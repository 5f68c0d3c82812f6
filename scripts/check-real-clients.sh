#!/usr/bin/env bash
# Real mail clients against the SMTP intake (the listener, its unix socket,
# `bulkmailer-sendmail -bs`): swaks, Python's smtplib (what Mailman uses),
# s-nail, mutt, git send-email. Not part of `npm test` (CI has none of these
# programs); run it before a release and after changing
# src/frontends/smtp-intake/ or src/frontends/listener/ (docs/frontends.md).
#
# Needs a built checkout (`npm run build`). Prints PASS/FAIL per client and
# case, SKIP (with the reason) for a client that is not installed; exits 1
# when any case failed. Each case checks the client's exit status and what
# landed in the spool: the stored message byte for byte where the client
# sends exactly what it is given (swaks --data, smtplib), the dot-unstuffed
# body lines with CRLF for the others. Transcripts of failed cases are kept
# in the work directory it prints (removed when everything passed).
# Only 127.0.0.1 and a unix socket in the temp directory are used.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
BM="$ROOT/bin/bulkmailer"
SENDMAIL="$ROOT/bin/bulkmailer-sendmail"
[ -f "$ROOT/dist/cli/main.js" ] || [ -d "$ROOT/dist" ] || { echo "build first: npm run build" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bulkmailer-clients.XXXXXX")
chmod 700 "$WORK"
PASS=0; FAIL=0; SKIP=0
LISTENER_PID=""
cleanup() { [ -n "$LISTENER_PID" ] && kill "$LISTENER_PID" 2>/dev/null; wait 2>/dev/null; }
trap cleanup EXIT

pass() { PASS=$((PASS + 1)); printf 'PASS  %-14s %s\n' "$1" "$2"; }
fail() { FAIL=$((FAIL + 1)); printf 'FAIL  %-14s %s: %s (transcript: %s)\n' "$1" "$2" "$3" "${LOG:-}"; }
skip() { SKIP=$((SKIP + 1)); printf 'SKIP  %-14s %s\n' "$1" "$2"; }
have() { command -v "$1" >/dev/null 2>&1; }

# A fresh home per listener; $1 = name, rest = extra `listen` arguments.
# Sets HOME_DIR, PORT (empty for a socket), LISTENER_PID.
start_listener() {
  local name=$1; shift
  HOME_DIR="$WORK/$name"; mkdir -p "$HOME_DIR"
  if [ -n "${TLS:-}" ]; then
    BULKMAILER_HOME="$HOME_DIR" "$BM" config set listener.tlsKeyFile "$WORK/key.pem" >/dev/null
    BULKMAILER_HOME="$HOME_DIR" "$BM" config set listener.tlsCertFile "$WORK/cert.pem" >/dev/null
    BULKMAILER_HOME="$HOME_DIR" "$BM" config set listener.authUser "$AUTH_USER" >/dev/null
    BULKMAILER_HOME="$HOME_DIR" "$BM" config set listener.authPass "$AUTH_PASS" >/dev/null
  fi
  BULKMAILER_HOME="$HOME_DIR" "$BM" listen "$@" >"$HOME_DIR/listen.out" 2>&1 &
  LISTENER_PID=$!
  local i
  for i in $(seq 1 100); do
    grep -q 'listening' "$HOME_DIR/listen.out" 2>/dev/null && break
    sleep 0.1
  done
  PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$HOME_DIR/listen.out")
  grep -q 'listening' "$HOME_DIR/listen.out" || { echo "listener did not start: $(cat "$HOME_DIR/listen.out")" >&2; exit 2; }
}
stop_listener() { kill "$LISTENER_PID" 2>/dev/null; wait "$LISTENER_PID" 2>/dev/null; LISTENER_PID=""; }

# The spool's message files, newest last; count and last one.
msg_count() { find "$HOME_DIR/spool/msg" -type f 2>/dev/null | wc -l; }
last_msg() { find "$HOME_DIR/spool/msg" -type f -printf '%T@ %p\n' 2>/dev/null | sort -n | tail -1 | cut -d' ' -f2-; }
# Recipients of the newest entry, as `bulkmailer status` counts them.
status_rcpts() { BULKMAILER_HOME="$HOME_DIR" "$BM" status 2>&1 | sed -n 's/^total: .*entr[a-z]* ([^)]*), \([0-9]*\) recipients.*/\1/p'; }

# Runs a case: $1 client, $2 case, $3 expected new messages, rest = command.
# The command's output goes to a transcript; on success the caller's check
# function (CHECK) gets the stored message's path.
run_case() {
  local client=$1 kase=$2 want=$3; shift 3
  LOG="$WORK/$client.$kase.log"
  local before after rc
  before=$(msg_count)
  # A client that hangs is a failure, not a stuck check.
  timeout 120 "$@" >"$LOG" 2>&1; rc=$?
  after=$(msg_count)
  if [ "$rc" -eq 124 ]; then fail "$client" "$kase" "no exit within 120 s"; return; fi
  if [ "$rc" -ne 0 ]; then fail "$client" "$kase" "exit $rc"; return; fi
  if [ $((after - before)) -ne "$want" ]; then fail "$client" "$kase" "$((after - before)) messages stored, want $want"; return; fi
  if [ -n "${CHECK:-}" ]; then
    local why
    if ! why=$($CHECK "$(last_msg)" 2>&1); then fail "$client" "$kase" "$why"; return; fi
  fi
  pass "$client" "$kase"
}

# --- fixtures ---------------------------------------------------------------
AUTH_USER=lists
AUTH_PASS='s3cret pass:%'
# A message whose body has dot lines, a lone dot, UTF-8 and 8-bit text.
printf '%s\n' 'From: Ann <ann@example.org>' 'To: bob@example.net' 'Subject: dots' \
  'MIME-Version: 1.0' 'Content-Type: text/plain; charset=utf-8' 'Content-Transfer-Encoding: 8bit' '' \
  '.leading dot' '..two dots' '.' 'x.' ' .space dot' 'héllo wörld' 'last line' >"$WORK/dots.lf"
sed 's/$/\r/' "$WORK/dots.lf" >"$WORK/dots.crlf"
# swaks sends its data, then CRLF . CRLF: give it the message without its last newline.
head -c -1 "$WORK/dots.lf" >"$WORK/dots.swaks"
printf '%s\n' '.leading dot' '..two dots' '.' 'héllo wörld' 'last line' >"$WORK/body.lf"
# ~6 MB: 80,000 lines of 76 characters, every 100th starting with a dot.
python3 - "$WORK/big.lf" <<'PY'
import sys
with open(sys.argv[1], 'w') as f:
    f.write('From: ann@example.org\nTo: bob@example.net\nSubject: big\n\n')
    for i in range(80000):
        f.write(('.' if i % 100 == 0 else 'L') + ('%075d' % i) + '\n')
PY
sed 's/$/\r/' "$WORK/big.lf" >"$WORK/big.crlf"
head -c -1 "$WORK/big.lf" >"$WORK/big.swaks"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
  -addext 'subjectAltName=IP:127.0.0.1,DNS:localhost' \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" >/dev/null 2>&1 || { echo "openssl failed" >&2; exit 2; }

# Checks on the stored message ($1).
same_as() { cmp "$1" "$2" >/dev/null || { echo "stored message differs from $2 (cmp: $(cmp "$1" "$2" 2>&1))"; return 1; }; }
same_dots() { same_as "$1" "$WORK/dots.crlf"; }
same_big() { same_as "$1" "$WORK/big.crlf"; }
# The body lines, unstuffed, with CRLF, in the stored message (clients that add headers).
has_body() {
  python3 - "$1" "$WORK/body.lf" <<'PY'
import sys
stored = open(sys.argv[1], 'rb').read()
body = open(sys.argv[2], 'rb').read().replace(b'\n', b'\r\n')
if b'\r\n\r\n' not in stored: sys.exit('no header/body separator with CRLF')
if body not in stored: sys.exit('body lines not stored exactly (dot-unstuffing or line endings changed)')
if stored.replace(b'\r\n', b'').find(b'\n') >= 0 or stored.replace(b'\r\n', b'').find(b'\r') >= 0:
    sys.exit('a bare LF or CR in the stored message')
PY
}

# The body lines with the line ending the client used (a sendmail program
# is given LF lines and stores them as given).
has_body_lf() {
  python3 - "$1" "$WORK/body.lf" <<'PY'
import sys
stored = open(sys.argv[1], 'rb').read()
body = open(sys.argv[2], 'rb').read()
if b'\r' in stored: sys.exit('a CR in a message given with LF line endings')
if body not in stored: sys.exit('body lines not stored exactly')
PY
}

# --- Python smtplib (Mailman 3 and 2) ---------------------------------------
SMTPLIB="$WORK/smtplib_case.py"
cat >"$SMTPLIB" <<'PY'
import smtplib, ssl, sys
case, target = sys.argv[1], sys.argv[2]
work = sys.argv[3]
def connect():
    if target.startswith('/'):
        s = smtplib.SMTP()
        s.sock = __import__('socket').socket(__import__('socket').AF_UNIX)
        s.sock.connect(target)
        s.file = None
        code, msg = s.getreply()
        assert code == 220, (code, msg)
        return s
    return smtplib.SMTP('127.0.0.1', int(target), timeout=60)
s = connect()
s.set_debuglevel(1)
if case.startswith('tls'):
    s.ehlo()
    ctx = ssl.create_default_context(cafile=work + '/cert.pem')
    s.starttls(context=ctx)
    s.ehlo()
    if case == 'tls-login':
        # Mailman's smtplib login() picks PLAIN; force LOGIN too.
        s.user, s.password = sys.argv[4], sys.argv[5]
        code, resp = s.auth('LOGIN', s.auth_login)
        assert code == 235, (code, resp)
    else:
        s.login(sys.argv[4], sys.argv[5])
dots = open(work + '/dots.crlf', 'rb').read()
if case in ('multi', 'tls', 'tls-login', 'socket'):
    refused = s.sendmail('ann@example.org', ['bob@example.net', 'carl@example.net', 'dora@example.com'], dots)
    assert refused == {}, refused
elif case == 'big':
    s.sendmail('ann@example.org', ['bob@example.net'], open(work + '/big.crlf', 'rb').read())
elif case == 'smtputf8':
    s.ehlo()
    assert s.has_extn('smtputf8') and s.has_extn('8bitmime'), s.esmtp_features
    refused = s.sendmail('zoë@example.org', ['jürgen@example.net'], dots, mail_options=['SMTPUTF8', 'BODY=8BITMIME'])
    assert refused == {}, refused
elif case == 'rset':
    s.ehlo()
    s.mail('ann@example.org'); s.rcpt('bob@example.net')
    code, _ = s.rset(); assert code == 250, code
    code, _ = s.noop(); assert code == 250, code
    s.sendmail('ann@example.org', ['bob@example.net'], dots)
elif case == 'two-messages':
    # Two transactions on one connection, as Mailman sends a post's chunks.
    s.sendmail('ann@example.org', ['bob@example.net'], dots)
    s.sendmail('ann@example.org', ['carl@example.net'], dots)
code, _ = s.quit()
assert code == 221, code
PY

# --- plain loopback ---------------------------------------------------------
TLS='' start_listener plain --port 0
echo "# plain loopback listener on 127.0.0.1:$PORT (home $HOME_DIR)"

if have swaks; then
  CHECK=same_dots run_case swaks multi-rcpt 1 swaks --server 127.0.0.1 --port "$PORT" \
    --from ann@example.org --to bob@example.net,carl@example.net,dora@example.com --data "$WORK/dots.swaks"
  [ "$(status_rcpts)" = 3 ] || fail swaks multi-rcpt "status counts $(status_rcpts) recipients, want 3"
  CHECK=same_big run_case swaks big-6MB 1 swaks --server 127.0.0.1 --port "$PORT" \
    --from ann@example.org --to bob@example.net --data "$WORK/big.swaks"
  CHECK=same_dots run_case swaks pipeline 1 swaks --server 127.0.0.1 --port "$PORT" --pipeline \
    --from ann@example.org --to bob@example.net,carl@example.net --data "$WORK/dots.swaks"
  CHECK=same_dots run_case swaks helo-only 1 swaks --server 127.0.0.1 --port "$PORT" --protocol SMTP \
    --from ann@example.org --to bob@example.net --data "$WORK/dots.swaks"
  CHECK='' run_case swaks quit-only 0 swaks --server 127.0.0.1 --port "$PORT" --quit-after EHLO
else
  skip swaks "not installed (apt-get install swaks)"
fi

if have python3; then
  CHECK=same_dots run_case smtplib multi-rcpt 1 python3 "$SMTPLIB" multi "$PORT" "$WORK"
  CHECK=same_big run_case smtplib big-6MB 1 python3 "$SMTPLIB" big "$PORT" "$WORK"
  CHECK=same_dots run_case smtplib smtputf8 1 python3 "$SMTPLIB" smtputf8 "$PORT" "$WORK"
  CHECK=same_dots run_case smtplib rset-quit 1 python3 "$SMTPLIB" rset "$PORT" "$WORK"
  CHECK=same_dots run_case smtplib two-messages 2 python3 "$SMTPLIB" two-messages "$PORT" "$WORK"
else
  skip smtplib "python3 not installed"
fi

if have s-nail; then
  CHECK=has_body run_case s-nail dots-multi 1 env HOME="$WORK" MAILRC=/dev/null s-nail -:/ -Sv15-compat -Ssendwait -Snosave -Smime-encoding=8bit \
    -S "mta=smtp://127.0.0.1:$PORT" -S smtp-auth=none -S from=ann@example.org -S ttycharset=utf-8 -s dots \
    bob@example.net carl@example.net <"$WORK/body.lf"
else
  skip s-nail "not installed (apt-get install s-nail)"
fi

MUTTRC="$WORK/muttrc"
: >"$MUTTRC"
if have mutt; then
  CHECK=has_body run_case mutt dots-multi 1 env HOME="$WORK" mutt -n -F "$MUTTRC" \
    -e "set smtp_url=smtp://127.0.0.1:$PORT/; set from=ann@example.org; set ssl_starttls=no; set ssl_force_tls=no; set charset=utf-8; set send_charset=utf-8" \
    -s dots bob@example.net carl@example.net <"$WORK/body.lf"
else
  skip mutt "not installed (apt-get install mutt)"
fi

# git send-email: one patch whose commit message has the body lines.
GITREPO="$WORK/repo"
make_patch() {
  git init -q "$GITREPO" && cd "$GITREPO" && git config user.email ann@example.org && git config user.name Ann &&
    echo x >f && git add f && git commit -q -F "$WORK/gitmsg" && git format-patch -q -1 -o "$WORK/patches" && cd "$ROOT"
}
if git send-email --help >/dev/null 2>&1; then
  { echo 'subject line'; echo; cat "$WORK/body.lf"; } >"$WORK/gitmsg"
  make_patch >/dev/null 2>&1 || { echo "git repo setup failed" >&2; exit 2; }
  CHECK=has_body run_case git-send-email dots-multi 1 git -C "$GITREPO" send-email --confirm=never --quiet \
    --smtp-server=127.0.0.1 --smtp-server-port="$PORT" \
    --from=ann@example.org --to=bob@example.net --cc=carl@example.net --suppress-cc=all "$WORK/patches"
else
  skip git-send-email "not installed (apt-get install git-email)"
fi
stop_listener

# --- STARTTLS + AUTH --------------------------------------------------------
TLS=1 start_listener tls --port 0
echo "# STARTTLS + AUTH listener on 127.0.0.1:$PORT"
if have swaks; then
  if perl -MIO::Socket::SSL -MAuthen::SASL -e1 2>/dev/null; then
    for mech in PLAIN LOGIN; do
      CHECK=same_dots run_case swaks "tls-auth-$mech" 1 swaks --server 127.0.0.1 --port "$PORT" --tls \
        --tls-verify --tls-ca-path "$WORK/cert.pem" \
        --auth "$mech" --auth-user "$AUTH_USER" --auth-password "$AUTH_PASS" \
        --from ann@example.org --to bob@example.net,carl@example.net --data "$WORK/dots.swaks"
    done
    CHECK=same_dots run_case swaks tls-auth-pipeline 1 swaks --server 127.0.0.1 --port "$PORT" --tls --pipeline \
      --tls-verify --tls-ca-path "$WORK/cert.pem" \
      --auth PLAIN --auth-user "$AUTH_USER" --auth-password "$AUTH_PASS" \
      --from ann@example.org --to bob@example.net,carl@example.net --data "$WORK/dots.swaks"
    # Without AUTH the transaction must be refused (530) and nothing stored.
    LOG="$WORK/swaks.no-auth.log"
    if swaks --server 127.0.0.1 --port "$PORT" --tls --from ann@example.org --to bob@example.net >"$LOG" 2>&1; then
      fail swaks no-auth-refused "accepted without AUTH"
    elif grep -Eq '^<.{0,3} 530 ' "$LOG"; then pass swaks no-auth-refused
    else fail swaks no-auth-refused "no 530"; fi
    # A wrong password is refused (535).
    LOG="$WORK/swaks.bad-pass.log"
    if swaks --server 127.0.0.1 --port "$PORT" --tls --auth PLAIN --auth-user "$AUTH_USER" --auth-password wrong \
      --from ann@example.org --to bob@example.net >"$LOG" 2>&1; then
      fail swaks bad-password "accepted a wrong password"
    elif grep -Eq '^<.{0,3} 535 ' "$LOG"; then pass swaks bad-password
    else fail swaks bad-password "no 535"; fi
  else
    skip swaks "TLS/AUTH: needs libio-socket-ssl-perl and libauthen-sasl-perl"
  fi
fi
if have python3; then
  CHECK=same_dots run_case smtplib starttls-login 1 python3 "$SMTPLIB" tls "$PORT" "$WORK" "$AUTH_USER" "$AUTH_PASS"
  CHECK=same_dots run_case smtplib starttls-LOGIN 1 python3 "$SMTPLIB" tls-login "$PORT" "$WORK" "$AUTH_USER" "$AUTH_PASS"
fi
ENC_PASS=$(python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1],safe=""))' "$AUTH_PASS")
if have s-nail; then
  for mech in plain login; do
  CHECK=has_body run_case s-nail "starttls-auth-$mech" 1 env HOME="$WORK" MAILRC=/dev/null s-nail -:/ -Sv15-compat -Ssendwait -Snosave -Smime-encoding=8bit \
    -S "mta=smtp://$AUTH_USER:$ENC_PASS@localhost:$PORT" -S smtp-use-starttls -S smtp-auth=$mech \
    -S tls-ca-file="$WORK/cert.pem" -S tls-ca-no-defaults -S tls-verify=strict \
    -S from=ann@example.org -S ttycharset=utf-8 -s dots bob@example.net <"$WORK/body.lf"
  done
fi
if have mutt; then
  CHECK=has_body run_case mutt starttls-auth 1 env HOME="$WORK" mutt -n -F "$MUTTRC" \
    -e "set smtp_url=smtp://$AUTH_USER@127.0.0.1:$PORT/; set smtp_pass=\"$AUTH_PASS\"; set ssl_starttls=yes; set ssl_force_tls=yes; set ssl_ca_certificates_file=$WORK/cert.pem; set certificate_file=$WORK/cert.pem; set from=ann@example.org; set charset=utf-8; set send_charset=utf-8" \
    -s dots bob@example.net <"$WORK/body.lf"
fi
if git send-email --help >/dev/null 2>&1; then
  CHECK=has_body run_case git-send-email starttls-auth 1 git -C "$GITREPO" \
    -c sendemail.smtpPass="$AUTH_PASS" send-email --confirm=never --quiet \
    --smtp-server=127.0.0.1 --smtp-server-port="$PORT" --smtp-encryption=tls \
    --smtp-ssl-cert-path="$WORK/cert.pem" --smtp-user="$AUTH_USER" \
    --from=ann@example.org --to=bob@example.net --suppress-cc=all "$WORK/patches"
fi
stop_listener

# --- the unix socket listener ------------------------------------------------
SOCK="$WORK/listen.sock"
TLS='' start_listener socket --socket "$SOCK"
echo "# unix socket listener at $SOCK"
if have swaks; then
  CHECK=same_dots run_case swaks socket 1 swaks --socket "$SOCK" \
    --from ann@example.org --to bob@example.net,carl@example.net --data "$WORK/dots.swaks"
  CHECK=same_dots run_case swaks socket-pipeline 1 swaks --socket "$SOCK" --pipeline \
    --from ann@example.org --to bob@example.net --data "$WORK/dots.swaks"
fi
if have python3; then
  CHECK=same_dots run_case smtplib socket 1 python3 "$SMTPLIB" socket "$SOCK" "$WORK"
fi
stop_listener

# --- bulkmailer-sendmail -bs ----------------------------------------------------
HOME_DIR="$WORK/bs"; mkdir -p "$HOME_DIR"
echo "# bulkmailer-sendmail -bs (home $HOME_DIR)"
if have swaks; then
  CHECK=same_dots run_case swaks sendmail-bs 1 env BULKMAILER_HOME="$HOME_DIR" swaks --pipe "$SENDMAIL -bs" \
    --from ann@example.org --to bob@example.net,carl@example.net --data "$WORK/dots.swaks"
  CHECK=same_dots run_case swaks bs-pipeline 1 env BULKMAILER_HOME="$HOME_DIR" swaks --pipe "$SENDMAIL -bs" --pipeline \
    --from ann@example.org --to bob@example.net --data "$WORK/dots.swaks"
  CHECK=same_big run_case swaks bs-big-6MB 1 env BULKMAILER_HOME="$HOME_DIR" swaks --pipe "$SENDMAIL -bs" \
    --from ann@example.org --to bob@example.net --data "$WORK/big.swaks"
fi

# Not SMTP, but the other way git send-email and mutt reach us: a sendmail
# program (git runs `PROGRAM -i ADDR...`; the message goes in on stdin).
if git send-email --help >/dev/null 2>&1; then
  CHECK=has_body_lf run_case git-send-email sendmail-program 1 env BULKMAILER_HOME="$HOME_DIR" git -C "$GITREPO" \
    send-email --confirm=never --quiet --smtp-server="$SENDMAIL" \
    --from=ann@example.org --to=bob@example.net --suppress-cc=all "$WORK/patches"
fi
if have mutt; then
  CHECK=has_body_lf run_case mutt sendmail-program 1 env HOME="$WORK" BULKMAILER_HOME="$HOME_DIR" mutt -n -F "$MUTTRC" \
    -e "set sendmail=\"$SENDMAIL -oem -oi\"; set from=ann@example.org; set charset=utf-8; set send_charset=utf-8" \
    -s dots bob@example.net <"$WORK/body.lf"
fi

echo "# $PASS passed, $FAIL failed, $SKIP skipped"
if [ "$FAIL" -eq 0 ]; then rm -rf "$WORK"; exit 0; fi
echo "# transcripts and spools kept in $WORK"
exit 1
