#!/usr/bin/env bash
# Checks that imports point one way (README "Layout"): each folder may use
# only the folders below it,
#   microvm/ -> api/ -> snapshot/ -> virtio/ -> vmm/ -> mmds/ -> config/ -> base/
# (api/ and microvm/ are both the top; microvm/main.c starts the API
# thread, so microvm/ may use api/, never the reverse).
# 1. Includes: no file includes a header of a folder above its own.
# 2. Calls, when given the object directory (make check passes it): no
#    object uses a symbol that only a folder above its own defines.
# Prints each upward use and exits 1 when there is one.
# Usage: scripts/check-layers.sh [BUILD/obj]
set -euo pipefail
cd "$(dirname "$0")/.."
layers=(base config mmds vmm virtio snapshot api microvm)

rank() {
	local i
	for i in "${!layers[@]}"; do
		[ "${layers[$i]}" = "$1" ] && echo "$i" && return
	done
	echo -1 # not a layer (tests, jailer, uffd): not checked
}

bad=0
for dir in "${layers[@]}"; do
	from=$(rank "$dir")
	while IFS=: read -r file _ header; do
		to=$(rank "${header%%/*}")
		if [ "$to" -gt "$from" ]; then
			echo "upward include: $file includes $header"
			bad=1
		fi
	done < <(grep -Ho '^#include "[a-z_]*/[a-z_]*\.h"' "$dir"/*.[ch] |
		sed 's/#include "\(.*\)"/\1/; s/:/::/')
done

objdir=${1:-}
if [ -n "$objdir" ]; then
	# Which folder defines each global symbol.
	declare -A owner
	for dir in "${layers[@]}"; do
		for obj in "$objdir/$dir"/*.o; do
			# an object left from a file that moved away is not one
			[ -e "$dir/$(basename "${obj%.o}").c" ] || continue
			while read -r sym; do
				owner[$sym]=$dir
			done < <(nm --defined-only -g "$obj" | awk '{print $3}')
		done
	done
	for dir in "${layers[@]}"; do
		from=$(rank "$dir")
		for obj in "$objdir/$dir"/*.o; do
			# an object left from a file that moved away is not one
			[ -e "$dir/$(basename "${obj%.o}").c" ] || continue
			while read -r sym; do
				def=${owner[$sym]:-}
				[ -n "$def" ] || continue
				if [ "$(rank "$def")" -gt "$from" ]; then
					echo "upward call: $dir/$(basename "${obj%.o}").c uses $sym of $def/"
					bad=1
				fi
			done < <(nm --undefined-only "$obj" | awk '{print $2}')
		done
	done
fi

if [ "$bad" = 0 ]; then
	echo "layers: every include${objdir:+ and call} points down (${layers[*]})"
fi
exit "$bad"
