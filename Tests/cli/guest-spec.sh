# Sourced by the CLI checks that walk every guest. spec_value SPEC KEY: a key of a guest's spec
# file as `x86v test` reads it ("flags", "configs", "skip": key: value lines), empty if none.
spec_value() {
    [ -f "$1" ] || return 0
    sed -n "s/^[[:space:]]*$2:[[:space:]]*//p" "$1" | tail -n 1
}
