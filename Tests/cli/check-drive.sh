#!/usr/bin/env bash
# `x86v run --drive` (IDE disks) across runs and against bad input, with the ide guest built as
# build/drive/ide-persist.elf (testguests/guests/ide.c: one mode a run, from --append) on copies
# of its image:
#  1. a guest writes sectors to a read-write drive: the file then holds exactly those bytes
#     (compared with the image build/host/ide-disk writes for that case), and a second run reads
#     them back; the same write to a `snapshot` drive leaves the file unchanged, and to a
#     `readonly` drive it is aborted in the guest (the guest says so) and the file is unchanged;
#  2. the disk as the primary slave only (xv6's layout) is read through the absent master;
#  3. a run saved with a read-write drive resumes without --drive (the path is in the snapshot);
#  4. bad images and flags (a 1000-byte image, a missing file, a directory, a bad index, a
#     duplicate index, an unknown option, a read-only file without readonly) get one line on
#     stderr and status 2.
# Usage: Tests/cli/check-drive.sh [path/to/x86v] [GUESTDIR]   (from the repository root)
set -uo pipefail
x86v=${1:-.build/release/x86v}
guestdir=${2:-testguests}
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
failures=0
pass() { echo "ok - $*"; }
fail() { echo "not ok - $*"; failures=$((failures + 1)); }
. "$(dirname "$0")/check-bad.sh"

guest="$guestdir/build/drive/ide-persist.elf"
image="$guestdir/build/ide-disk.img"
maker="$guestdir/build/host/ide-disk"
for f in "$guest" "$image" "$maker"; do
    [ -e "$f" ] || { echo "not ok - $f missing (make -C $guestdir)"; exit 1; }
done
"$maker" "$tmp/written.img" --written

# run NAME DRIVE-SPEC MODE [more flags]: the guest's status (1 = every test passed).
run() {
    local name=$1 drive=$2 mode=$3; shift 3
    "$x86v" run "$guest" --memory 64M --drive "$drive" --append "mode=$mode" "$@" \
        --serial "$tmp/$name.out" < /dev/null 2> "$tmp/$name.err"
}
expect_ok() {  # DESCRIPTION STATUS NAME
    if [ "$2" -eq 1 ] && grep -q '^ok 1' "$tmp/$3.out"; then pass "$1"
    else fail "$1: status $2, $(grep -m 1 'ok 1\|Bail' "$tmp/$3.out") $(head -c 200 "$tmp/$3.err")"; fi
}

# 1. Persistence, snapshot, readonly.
cp "$image" "$tmp/rw.img"
run write "$tmp/rw.img,index=0" write; expect_ok "mode=write on a read-write drive" $? write
if cmp -s "$tmp/rw.img" "$tmp/written.img"; then pass "the file holds the sectors written, nothing else changed"
else fail "the written file differs: $(cmp "$tmp/rw.img" "$tmp/written.img" 2>&1 | head -1)"; fi
run read "$tmp/rw.img" read; expect_ok "a second run reads them back (index defaults to 0)" $? read
run unwritten "$image,snapshot" read
if [ $? -ne 1 ] && grep -q '^not ok 1' "$tmp/unwritten.out"; then pass "the original image does not have them (the check can fail)"
else fail "mode=read passed on the unwritten image"; fi

cp "$image" "$tmp/snap.img"
run snapshot "$tmp/snap.img,index=0,snapshot" write; expect_ok "mode=write on a snapshot drive" $? snapshot
if cmp -s "$tmp/snap.img" "$image"; then pass "snapshot: the file is unchanged"
else fail "snapshot: the file changed"; fi

cp "$image" "$tmp/ro.img"
run readonly "$tmp/ro.img,readonly" readonly; expect_ok "a write to a readonly drive aborts in the guest" $? readonly
if cmp -s "$tmp/ro.img" "$image"; then pass "readonly: the file is unchanged"
else fail "readonly: the file changed"; fi

# 2. xv6's layout: the disk at index 1 only.
run slave "$image,index=1,snapshot" slave; expect_ok "disk as the primary slave only, through the absent master" $? slave

# 3. Save with a read-write drive, resume without --drive.
cp "$image" "$tmp/resume.img"
run saved "$tmp/resume.img" write --save-at 5000 --save "$tmp/snap.bin"
saved=$?
"$x86v" run --resume "$tmp/snap.bin" --serial "$tmp/resumed.out" < /dev/null 2> "$tmp/resumed.err"
resumed=$?
if [ $saved -eq 18 ] && [ $resumed -eq 1 ] && cat "$tmp/saved.out" "$tmp/resumed.out" | grep -q '^ok 1' \
    && cmp -s "$tmp/resume.img" "$tmp/written.img"; then pass "save at 5000, resume without --drive: the run finishes and the file is written"
else fail "save/resume with a drive: save status $saved, resume $resumed: $(head -c 200 "$tmp/resumed.err")"; fi
check_bad "resume with the drive at another index" "no IDE drive at index 1" run --resume "$tmp/snap.bin" --drive "$tmp/resume.img,index=1"

# 4. Bad input.
head -c 1000 "$image" > "$tmp/short.img"
check_bad "a 1000-byte image" "1000 bytes is not a whole number of 512-byte sectors" run "$guest" --drive "$tmp/short.img"
check_bad "a missing image" "No such file" run "$guest" --drive "$tmp/missing.img"
check_bad "a directory" "directory" run "$guest" --drive "$tmp"
check_bad "a directory, readonly" "not a regular file" run "$guest" --drive "$tmp,readonly"
: > "$tmp/empty.img"
check_bad "an empty image" "0 bytes" run "$guest" --drive "$tmp/empty.img"
check_bad "index out of range" "index must be 0-3" run "$guest" --drive "$image,index=4"
check_bad "the same index twice" "two --drive flags for index 1" run "$guest" --drive "$image,index=1,snapshot" --drive "$image,index=1,snapshot"
check_bad "an unknown option" "unknown option 'cache=none'" run "$guest" --drive "$image,cache=none"
check_bad "no file" "no file" run "$guest" --drive "index=0"
cp "$image" "$tmp/locked.img"
chmod a-w "$tmp/locked.img"
if [ -w "$tmp/locked.img" ]; then
    echo "ok - # SKIP a read-only file without readonly: running as root, the file stays writable"
else
    check_bad "a read-only file without readonly" "add ,readonly or ,snapshot" run "$guest" --drive "$tmp/locked.img"
fi

echo "# check-drive: $failures failed"
[ $failures -eq 0 ]
