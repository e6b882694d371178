# Sourced by the CLI checks that walk every guest. spec_value SPEC KEY: a key of a guest's spec
# file as `x86v test` reads it ("flags", "configs", "skip": key: value lines), empty if none.
# In "flags", a word starting with build/ names a file in the guest directory (the spec's
# ../build/), as `x86v test` reads it.
spec_value() {
    [ -f "$1" ] || return 0
    local value
    value=$(sed -n "s/^[[:space:]]*$2:[[:space:]]*//p" "$1" | tail -n 1)
    if [ "$2" = flags ]; then
        local dir
        dir=$(dirname "$(dirname "$1")")
        value=$(sed -e "s#^build/#$dir/build/#" -e "s#\([[:space:]]\)build/#\1$dir/build/#g" <<< "$value")
    fi
    echo "$value"
}
