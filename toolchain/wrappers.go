package toolchain

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/redox-cook/cook/triple"
)

// prefixFile is one file of a bootstrapped prefix: a script or a symlink.
type prefixFile struct {
	Text string // script text (mode 0755), or
	Link string // symlink target
}

// bootstrapFiles are the files of a bootstrapped prefix for p's target,
// relative to the prefix's sysroot: sysroot/bin holds the tool names
// upstream's prebuilt prefix has, as small scripts over the host's clang,
// lld, LLVM and GNU binutils, cargo and rustc wrappers, rust-lld and
// cbindgen; sysroot/lib/gcc/<gnu> holds libgcc.a (compiler-rt's builtins).
// libgcc_eh.a is built separately (it needs the C compiler).
func bootstrapFiles(p *HostProbe) map[string]prefixFile {
	t := p.Target
	gnu := t.GNU()
	tool := func(name string) string { return p.Tool(name).Path }
	files := map[string]prefixFile{}
	bin := func(name string, f prefixFile) { files[filepath.Join("bin", name)] = f }
	exe := func(real string, extra ...string) prefixFile {
		args := ""
		for _, e := range extra {
			args += " " + shq(e)
		}
		return prefixFile{Text: fmt.Sprintf("#!/bin/sh\n# cook: bootstrapped %s toolchain (docs/toolchains.md)\nexec %s%s \"$@\"\n", t, shq(real), args)}
	}

	// C and C++: the gcc-compatible driver.
	driver := gccDriver(p, false)
	bin(gnu+"-gcc", prefixFile{Text: driver})
	bin(gnu+"-cc", prefixFile{Text: driver})
	cxx := gccDriver(p, true)
	bin(gnu+"-g++", prefixFile{Text: cxx})
	bin(gnu+"-c++", prefixFile{Text: cxx})
	bin(gnu+"-cpp", prefixFile{Text: fmt.Sprintf("#!/bin/sh\n# cook: the C preprocessor for %s\nexec \"$(dirname \"$0\")/%s-gcc\" -E \"$@\"\n", t, gnu)})

	// binutils: LLVM's, with GNU ld/objcopy/as for x86 (the BIOS
	// bootloader links with -m elf_i386 and the kernel's and bootloader's
	// objcopy use was verified with GNU objcopy).
	for _, n := range []struct{ gnuName, llvm string }{
		{"ar", "ar"}, {"gcc-ar", "ar"}, {"nm", "nm"}, {"gcc-nm", "nm"}, {"ranlib", "ranlib"}, {"gcc-ranlib", "ranlib"},
		{"objdump", "objdump"}, {"readelf", "readelf"}, {"strip", "strip"}, {"strings", "strings"}, {"size", "size"},
		{"addr2line", "addr2line"}, {"c++filt", "cxxfilt"}, {"objcopy", "objcopy"},
	} {
		bin(gnu+"-"+n.gnuName, exe(tool("llvm-"+n.llvm)))
	}
	if t.IsX86() {
		bin(gnu+"-objcopy", exe(tool("gnu-objcopy")))
		ld := exe(tool("gnu-ld"))
		as := exe(tool("gnu-as"))
		if t.Arch() != "x86_64" {
			ld = prefixFile{Text: fmt.Sprintf(`#!/bin/sh
# cook: GNU ld for %s: 32-bit x86 unless the caller chose an emulation
for a in "$@"; do case "$a" in -m|-m?*) exec %s "$@";; esac; done
exec %s -m elf_i386 "$@"
`, t, shq(tool("gnu-ld")), shq(tool("gnu-ld")))}
			as = prefixFile{Text: fmt.Sprintf(`#!/bin/sh
# cook: GNU as for %s: 32-bit unless the caller chose
for a in "$@"; do case "$a" in --32|--64|--x32) exec %s "$@";; esac; done
exec %s --32 "$@"
`, t, shq(tool("gnu-as")), shq(tool("gnu-as")))}
		}
		bin(gnu+"-ld", ld)
		bin(gnu+"-ld.bfd", ld)
		bin(gnu+"-as", as)
	} else {
		bin(gnu+"-ld", exe(tool("ld.lld")))
		bin(gnu+"-ld.lld", exe(tool("ld.lld")))
		bin(gnu+"-as", exe(tool("clang"), "--target="+clangTriple(t), "-c", "-x", "assembler"))
	}

	// Rust: Debian's cargo and rustc unlocked for -Z flags, and rust-lld
	// (rustc's linker for the kernel's JSON target and UEFI) as lld.
	rustc, cargo := tool("rustc"), tool("cargo")
	rustdoc := filepath.Join(filepath.Dir(rustc), "rustdoc")
	bin("cargo", prefixFile{Text: fmt.Sprintf(`#!/bin/sh
# cook: cargo for %[1]s from the host's Rust (docs/toolchains.md). RUSTC_BOOTSTRAP=1
# unlocks -Z build-std and #![feature] on a stable rustc; a rustup "+toolchain"
# argument is dropped (there is one toolchain here).
export RUSTC_BOOTSTRAP=1
: "${RUSTC:=%[2]s}"
export RUSTC
if [ -z "${RUSTDOC:-}" ] && [ -x %[3]s ]; then export RUSTDOC=%[3]s; fi
case "${1:-}" in +*) shift;; esac
exec %[4]s "$@"
`, t, shq(rustc), shq(rustdoc), shq(cargo))})
	bin("rustc", prefixFile{Text: fmt.Sprintf(`#!/bin/sh
# cook: rustc for %[1]s from the host's Rust, unlocked for -Z flags
export RUSTC_BOOTSTRAP=1
case "${1:-}" in +*) shift;; esac
exec %[2]s "$@"
`, t, shq(rustc))})
	if lld := tool("ld.lld"); lld != "" {
		if real, err := filepath.EvalSymlinks(lld); err == nil {
			lld = real
		}
		// For PE output (UEFI) lld-link writes a PDB and stamps its GUID
		// into the image. /Brepro makes the GUID a hash of the PDB, but the
		// PDB names rustc's randomly named temporary directory
		// (rustcXXXXXX/symbols.o); the wrapper links a copy of such files
		// from a directory named after their checksum, so equal inputs give
		// equal bytes wherever and whenever they are built.
		bin("rust-lld", prefixFile{Text: fmt.Sprintf(`#!/bin/sh
# cook: rust-lld for %[1]s (lld), reproducible PE images (/Brepro, stable object paths)
if [ "${1:-}" = "-flavor" ] && [ "${2:-}" = "link" ]; then
	for a; do
		shift
		case "$a" in
		/*/rustc??????/*)
			if [ -f "$a" ]; then
				sum=$(cksum < "$a") || exit 1
				d="${a%%/rustc??????/*}/rustc-link-${sum%%%% *}"
				mkdir -p "$d" || exit 1
				if [ ! -f "$d/${a##*/}" ]; then
					cp "$a" "$d/${a##*/}.$$" && mv -f "$d/${a##*/}.$$" "$d/${a##*/}" || exit 1
				fi
				a="$d/${a##*/}"
			fi;;
		esac
		set -- "$@" "$a"
	done
	exec %[2]s "$@" /Brepro
fi
exec %[2]s "$@"
`, t, shq(lld))})
	}
	if cb := p.Tool("cbindgen"); cb.Found() {
		bin("cbindgen", prefixFile{Link: cb.Path})
	}
	if rt := tool("compiler-rt"); rt != "" {
		files[filepath.Join("lib", "gcc", gnu, "libgcc.a")] = prefixFile{Link: rt}
	}
	return files
}

// ldEmulation is lld's -m for target.
func ldEmulation(t triple.Triple) string {
	switch t.Arch() {
	case "x86_64":
		return "elf_x86_64"
	case "i586", "i686":
		return "elf_i386"
	case "aarch64":
		return "aarch64elf"
	case "riscv64gc", "riscv64":
		return "elf64lriscv"
	}
	return ""
}

// dynamicLinker is relibc's ld.so path on target (relibc's config.mk).
func dynamicLinker(t triple.Triple) string {
	switch t.Arch() {
	case "x86_64":
		return "/lib/ld64.so.1"
	case "i586", "i686":
		return "/lib/libc.so.1"
	}
	return "/lib/ld.so.1"
}

// archCFlags are the flags clang needs for target beyond --target.
func archCFlags(t triple.Triple) []string {
	switch t.Arch() {
	case "riscv64gc":
		return []string{"-march=rv64gc", "-mabi=lp64d"}
	case "i586":
		return []string{"-march=i586"}
	case "i686":
		return []string{"-march=i686"}
	}
	return nil
}

// gccDriver is the <gnu>-gcc (or -g++) script: clang for compiling, and for
// links a gcc-style command line turned into an ld.lld one with relibc's
// start files and libraries, since clang has no Redox toolchain of its own
// (for an unknown OS it hands links back to "<triple>-gcc", i.e. here).
//
// The sysroot holding relibc (include/, lib/) is, in order: $REDOX_SYSROOT,
// $COOKBOOK_SYSROOT (the recipe's sysroot: relibc is there when the recipe
// depends on it), else <prefix>/sysroot/<gnu> (empty unless relibc was
// installed there).
func gccDriver(p *HostProbe, cxx bool) string {
	t := p.Target
	gnu := t.GNU()
	mode := ""
	if cxx {
		mode = " --driver-mode=g++"
	}
	var flags strings.Builder
	for _, f := range archCFlags(t) {
		flags.WriteString(" " + shq(f))
	}
	cxxLibs := ""
	if cxx {
		cxxLibs = `[ -e "$sysroot/lib/libstdc++.a" ] || [ -e "$sysroot/lib/libstdc++.so" ] && libs+=(-lstdc++ -lm)`
	}
	return fmt.Sprintf(`#!/bin/bash
# cook: %[1]s-%[2]s, a gcc-compatible driver for %[3]s made of clang and ld.lld
# (cook toolchain bootstrap; docs/toolchains.md). Compiles with clang; turns a
# link into an ld.lld command with relibc's crt0/crti/crtn, -lc and libgcc
# (compiler-rt builtins). relibc is found in $REDOX_SYSROOT, else in
# $COOKBOOK_SYSROOT, else in <prefix>/sysroot/%[1]s.
here=$(cd "$(dirname "$0")" && pwd)
prefix_sysroot=${here%%/bin}
sysroot=${REDOX_SYSROOT:-${COOKBOOK_SYSROOT:-$prefix_sysroot/%[1]s}}
libgcc_dir=$prefix_sysroot/lib/gcc/%[1]s
cc=(%[4]s%[5]s --target=%[6]s --sysroot="$sysroot" -D__redox__ -D__unix__ -D__unix -D__ELF__%[7]s)
[ -d "$sysroot/include" ] && cc+=(-isystem "$sysroot/include")

link=1
for a in "$@"; do
    case "$a" in
    -c|-S|-E|-M|-MM|-fsyntax-only) link=0;;
    -print-libgcc-file-name) echo "$libgcc_dir/libgcc.a"; exit 0;;
    -print-file-name=*)
        f=${a#-print-file-name=}
        for d in "$sysroot/lib" "$libgcc_dir"; do
            if [ -e "$d/$f" ]; then echo "$d/$f"; exit 0; fi
        done
        echo "$f"; exit 0;;
    -print-prog-name=ld) echo "$here/%[1]s-ld"; exit 0;;
    -print-prog-name=*) echo "${a#-print-prog-name=}"; exit 0;;
    -dumpmachine) echo %[1]s; exit 0;;
    -v|--version|-dumpversion|-dumpfullversion|-print-*|--print-*|-###) link=0;;
    esac
done
if [ $# -eq 0 ] || [ $link -eq 0 ]; then
    exec "${cc[@]}" "$@"
fi

# A link. Sources among the inputs are compiled first, with every compile
# option of the command line (as gcc applies them), then linked.
ld=(%[8]s -m %[9]s --eh-frame-hdr)
args=(); cflags=(); srcs=(); srcpos=(); srclang=()
crt=1; libs_on=1; shared=0; static=0; pie=0; reloc=0; lang=""
while [ $# -gt 0 ]; do
    a=$1; shift
    case "$a" in
    -o) args+=(-o "$1"); shift;;
    -L|-l|-T|-e|-u|-z|-Xlinker)
        case "$a" in
        -Xlinker) args+=("$1");;
        -l) args+=("-l$1");;
        *) args+=("$a" "$1");;
        esac
        shift;;
    -Wl,*) IFS=, read -ra parts <<< "${a#-Wl,}"; args+=("${parts[@]}");;
    -L*|-l*|-T*) args+=("$a");;
    -z?*) args+=(-z "${a#-z}");;
    -static|--static) static=1;;
    -static-pie) static=1; pie=1;;
    -shared) shared=1;;
    -pie) pie=1;;
    -no-pie|-nopie) pie=0;;
    -r) reloc=1;;
    -s) args+=(--strip-all);;
    -rdynamic) args+=(--export-dynamic);;
    -nostdlib) crt=0; libs_on=0;;
    -nostartfiles) crt=0;;
    -nodefaultlibs|-nolibc) libs_on=0;;
    -x) lang=$1; [ "$lang" = none ] && lang=""; shift;;
    -I|-D|-U|-include|-imacros|-isystem|-iquote|-idirafter|-MF|-MT|-MQ|-Xclang|-Xpreprocessor|-Xassembler|-arch|--param)
        cflags+=("$a" "$1"); shift;;
    -*) cflags+=("$a");;
    *)
        case "$lang:$a" in
        :*.c|:*.cc|:*.cp|:*.cpp|:*.cxx|:*.c++|:*.C|:*.S|:*.s|:*.sx|:*.i|:*.ii|?*:*)
            srcpos+=(${#args[@]}); srcs+=("$a"); srclang+=("$lang"); args+=("$a");;
        *) args+=("$a");;
        esac;;
    esac
done
if [ ${#srcs[@]} -gt 0 ]; then
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/cook-cc.XXXXXX") || exit 1
    trap 'rm -rf "$tmp"' EXIT
    for i in "${!srcs[@]}"; do
        o="$tmp/$i.o"
        x=(); [ -n "${srclang[$i]}" ] && x=(-x "${srclang[$i]}")
        "${cc[@]}" "${cflags[@]}" "${x[@]}" -c "${srcs[$i]}" -o "$o" || exit 1
        args[${srcpos[$i]}]=$o
    done
fi
if [ $reloc -eq 1 ]; then
    "${ld[@]}" -r "${args[@]}"
    exit
fi
pre=(); post=(); libs=()
if [ $shared -eq 1 ]; then
    ld+=(-shared)
elif [ $static -eq 1 ]; then
    ld+=(-static)
    [ $pie -eq 1 ] && ld+=(-pie --no-dynamic-linker)
else
    ld+=(-dynamic-linker %[10]s)
    [ $pie -eq 1 ] && ld+=(-pie)
fi
if [ $crt -eq 1 ]; then
    [ $shared -eq 0 ] && pre+=("$sysroot/lib/crt0.o")
    [ -e "$sysroot/lib/crti.o" ] && pre+=("$sysroot/lib/crti.o")
    [ -e "$sysroot/lib/crtn.o" ] && post+=("$sysroot/lib/crtn.o")
fi
if [ $libs_on -eq 1 ]; then
    %[11]s
    libs+=(--start-group -lc -lgcc)
    [ $shared -eq 0 ] && [ -e "$libgcc_dir/libgcc_eh.a" ] && libs+=(-lgcc_eh)
    libs+=(--end-group)
fi
exec "${ld[@]}" "${pre[@]}" "${args[@]}" -L"$sysroot/lib" -L"$libgcc_dir" "${libs[@]}" "${post[@]}"
`, gnu, map[bool]string{false: "gcc", true: "g++"}[cxx], t, shq(p.Tool("clang").Path), mode, clangTriple(t), flags.String(),
		shq(p.Tool("ld.lld").Path), ldEmulation(t), dynamicLinker(t), cxxLibs)
}

// shq quotes s for sh.
func shq(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./,:+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ehShim is compiled into libgcc_eh.a beside LLVM's libunwind objects:
// relibc has no dl_iterate_phdr (libunwind finds .eh_frame_hdr through it)
// and Debian's libunwind.a calls glibc's __fprintf_chk. It is written
// against no header, so that it compiles before relibc exists. The
// dl_iterate_phdr reports the executable alone (static linking), found
// through __ehdr_start, which lld defines.
const ehShim = `/* cook: glue between LLVM libunwind and relibc (cook toolchain bootstrap) */
typedef __SIZE_TYPE__ size_t;
typedef __UINTPTR_TYPE__ uintptr_t;
#ifdef __LP64__
typedef struct { unsigned int p_type, p_flags; unsigned long p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align; } cook_phdr;
typedef struct { unsigned char e_ident[16]; unsigned short e_type, e_machine; unsigned int e_version;
                 unsigned long e_entry, e_phoff, e_shoff; unsigned int e_flags;
                 unsigned short e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx; } cook_ehdr;
#else
typedef struct { unsigned int p_type, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_flags, p_align; } cook_phdr;
typedef struct { unsigned char e_ident[16]; unsigned short e_type, e_machine; unsigned int e_version;
                 unsigned int e_entry, e_phoff, e_shoff, e_flags;
                 unsigned short e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx; } cook_ehdr;
#endif
struct dl_phdr_info { uintptr_t dlpi_addr; const char *dlpi_name; const cook_phdr *dlpi_phdr; unsigned short dlpi_phnum; };
extern const char __ehdr_start[] __attribute__((weak, visibility("hidden")));

__attribute__((weak)) int dl_iterate_phdr(int (*cb)(struct dl_phdr_info *, size_t, void *), void *data) {
	if (!__ehdr_start) return 0;
	const cook_ehdr *eh = (const cook_ehdr *)__ehdr_start;
	const cook_phdr *ph = (const cook_phdr *)(__ehdr_start + eh->e_phoff);
	uintptr_t bias = 0;
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == 6 /* PT_PHDR */) { bias = (uintptr_t)ph - ph[i].p_vaddr; break; }
		if (ph[i].p_type == 1 /* PT_LOAD */ && ph[i].p_offset == 0) bias = (uintptr_t)__ehdr_start - ph[i].p_vaddr;
	}
	struct dl_phdr_info info = { bias, "", ph, eh->e_phnum };
	return cb(&info, sizeof info, data);
}

int vfprintf(void *, const char *, __builtin_va_list);
__attribute__((weak)) int __fprintf_chk(void *f, int flag, const char *fmt, ...) {
	(void)flag;
	__builtin_va_list ap;
	__builtin_va_start(ap, fmt);
	int r = vfprintf(f, fmt, ap);
	__builtin_va_end(ap);
	return r;
}
`
