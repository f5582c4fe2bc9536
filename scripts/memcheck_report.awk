# scripts/memcheck_report.awk -- reads valgrind memcheck text logs (one per
# process) and prints one line per reported error, tab-separated:
#   where  what  frames
# where is "recs" when a frame of the error's own stack (not of an origin or
# address-description stack) lies in recs's sources or recs.so, else "other";
# frames are the first eight frames of that stack, innermost first.  Also
# prints "suppressed N" per process that reached its ERROR SUMMARY.
# Usage: awk -v src=RECS_SOURCE_DIR -f THIS LOG...
function flush() {
	if (what != "")
		printf "%s\t%s\t%s\n", recs ? "recs" : "other", what, frames
	what = ""; in_stack = 0
}
# "==PID== Description" followed by "==PID==    at 0x...: fn (where)"
/^==[0-9]+== [^ ]/ {
	flush()
	header = $0
	sub(/^==[0-9]+== /, "", header)
	if (match(header, /suppressed: [0-9]+ from/)) {
		n = substr(header, RSTART + 12, RLENGTH - 17)
		printf "suppressed %d\n", n
	}
	pending = header; next
}
/^==[0-9]+==    at 0x/ && pending != "" {
	if (pending !~ /^Process terminating/) {
		what = pending; frames = ""; recs = 0; nframes = 0; in_stack = 1
	}
	pending = ""
}
/^==[0-9]+==    (at|by) 0x/ && in_stack {
	frame = $0
	sub(/^==[0-9]+==    (at|by) 0x[0-9A-F]+: /, "", frame)
	if (index(frame, "(" src "/") || frame ~ /\/recs\.so\)$/)
		recs = 1
	if (++nframes <= 8) {
		gsub(/\([^()]*\//, "(", frame)	# basename of the file or object
		frames = frames (frames == "" ? "" : " < ") frame
	}
	next
}
/^==[0-9]+==/ { pending = ""; in_stack = 0 }
END { flush() }
