package vmtest

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cavaliergopher/cpio"
)

// The initramfs is two gzip'd newc archives back to back, which the kernel
// unpacks one after the other:
//
//   - the base: /init (vminit), dev/console and the kernel's modules. It
//     depends only on vminit and the kernel, so it is built once and cached
//     under CACHE/vmtest/.
//   - the payload: /vmtest/config.json, the test binary, and the package
//     directory (its files and testdata/) at the same absolute path as on the
//     host, so the test runs in the directory `go test` would run it in.

// baseFormat changes whenever the layout of the base archive changes, to
// invalidate cached copies.
const baseFormat = "vmtest-base-1"

// checkStatic returns an error unless path is a static x86-64 ELF executable,
// the only kind that runs in the guest (no libc there).
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("vmtest: %s is not an ELF executable: %w", path, err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		return fmt.Errorf("vmtest: %s is built for %v, the VM is x86-64 (build with GOARCH=amd64)", path, f.Machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("vmtest: %s is dynamically linked and cannot run in the VM, which has no libc: build it with CGO_ENABLED=0 (so no -race)", path)
		}
	}
	return nil
}

// baseImage returns the path of the cached base archive for init and k,
// building it when needed.
func baseImage(cache, init string, k *Kernel) (string, error) {
	h := sha256.New()
	io.WriteString(h, baseFormat+"\x00")
	files := append([]string{init}, k.Modules...)
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00", filepath.Base(f))
		if err := hashFile(h, f); err != nil {
			return "", err
		}
	}
	sum := hex.EncodeToString(h.Sum(nil))[:24]
	dir := filepath.Join(cache, "vmtest")
	out := filepath.Join(dir, "base-"+sum+".cpio.gz")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("vmtest: cache: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".base-*")
	if err != nil {
		return "", fmt.Errorf("vmtest: cache: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := writeBase(tmp, init, k.Modules); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("vmtest: cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return "", fmt.Errorf("vmtest: cache: %w", err)
	}
	pruneBases(dir, keepBases)
	return out, nil
}

// keepBases is how many base archives (one per vminit build and kernel)
// the cache keeps.
const keepBases = 8

// pruneBases removes all but the keep most recent base archives in dir.
func pruneBases(dir string, keep int) {
	names, _ := filepath.Glob(filepath.Join(dir, "base-*.cpio.gz"))
	type file struct {
		name string
		mod  int64
	}
	var files []file
	for _, n := range names {
		if fi, err := os.Stat(n); err == nil {
			files = append(files, file{n, fi.ModTime().UnixNano()})
		}
	}
	slices.SortFunc(files, func(a, b file) int { return cmp.Compare(b.mod, a.mod) })
	for i := keep; i < len(files); i++ {
		os.Remove(files[i].name)
	}
}

func hashFile(w io.Writer, name string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("vmtest: %w", err)
	}
	defer f.Close()
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("vmtest: %w", err)
	}
	return nil
}

// writeBase writes the gzip'd base archive: dev/console, /init and the
// modules under ModulesDir.
func writeBase(w io.Writer, init string, modules []string) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return err
	}
	// cavaliergopher/cpio cannot write device numbers (c_rdevmajor/minor),
	// so the two entries the console needs are written by hand. Each newc
	// entry is 4-byte aligned, so the library's archive can follow in the
	// same stream.
	if err := writeNewc(zw, 1, "dev", 0o040755, 0, 0); err != nil {
		return err
	}
	if err := writeNewc(zw, 2, "dev/console", 0o020600, 5, 1); err != nil {
		return err
	}
	a := newArchive(zw)
	a.dir("vmtest", 0o755)
	a.file("init", init, 0o755)
	if len(modules) > 0 {
		a.dirAll(strings.TrimPrefix(ModulesDir, "/"))
		for _, m := range modules {
			a.file(path.Join(strings.TrimPrefix(ModulesDir, "/"), filepath.Base(m)), m, 0o644)
		}
	}
	if err := a.close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("vmtest: initramfs: %w", err)
	}
	return nil
}

// guestModules maps the host module paths to their guest paths.
func guestModules(modules []string) []string {
	var out []string
	for _, m := range modules {
		out = append(out, path.Join(ModulesDir, filepath.Base(m)))
	}
	return out
}

// writePayload writes the gzip'd payload archive: cfg (whose Path is set to
// the binary's guest path), the binary, and dir's files and testdata/ tree
// at dir's path.
func writePayload(w io.Writer, cfg *GuestConfig, binary, dir string) error {
	var zw io.WriteCloser = nopCloser{w}
	if os.Getenv("VMTEST_GZIP") != "0" {
		var err error
		zw, err = gzip.NewWriterLevel(w, gzip.BestSpeed)
		if err != nil {
			return err
		}
	}
	a := newArchive(zw)
	a.dirAll(strings.TrimPrefix(BinDir, "/"))
	if binary != "" {
		cfg.Path = path.Join(BinDir, filepath.Base(binary))
		a.file(strings.TrimPrefix(cfg.Path, "/"), binary, 0o755)
	}
	if dir != "" {
		if !filepath.IsAbs(dir) {
			return fmt.Errorf("vmtest: working directory %q is not absolute", dir)
		}
		cfg.Dir = dir
		a.dirAll(strings.TrimPrefix(filepath.ToSlash(dir), "/"))
		a.pkgDir(dir)
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("vmtest: config: %w", err)
	}
	a.data(strings.TrimPrefix(ConfigPath, "/"), js, 0o644)
	if err := a.close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("vmtest: initramfs: %w", err)
	}
	return nil
}

// archive writes a newc archive, keeping the first error.
type archive struct {
	w    *cpio.Writer
	dirs map[string]bool
	err  error
}

func newArchive(w io.Writer) *archive {
	return &archive{w: cpio.NewWriter(w), dirs: map[string]bool{"": true, ".": true}}
}

func (a *archive) fail(err error) {
	if a.err == nil && err != nil {
		a.err = fmt.Errorf("vmtest: initramfs: %w", err)
	}
}

func (a *archive) header(h *cpio.Header) bool {
	if a.err != nil {
		return false
	}
	a.fail(a.w.WriteHeader(h))
	return a.err == nil
}

func (a *archive) dir(name string, perm fs.FileMode) {
	if a.dirs[name] {
		return
	}
	a.dirs[name] = true
	a.header(&cpio.Header{Name: name, Mode: cpio.TypeDir | cpio.FileMode(perm.Perm()), Links: 2})
}

// dirAll writes name and its parents.
func (a *archive) dirAll(name string) {
	if name == "" || name == "." || a.dirs[name] {
		return
	}
	a.dirAll(path.Dir(name))
	a.dir(name, 0o755)
}

func (a *archive) data(name string, b []byte, perm fs.FileMode) {
	if a.header(&cpio.Header{Name: name, Mode: cpio.TypeReg | cpio.FileMode(perm.Perm()), Size: int64(len(b))}) {
		_, err := a.w.Write(b)
		a.fail(err)
	}
}

func (a *archive) file(name, src string, perm fs.FileMode) {
	if a.err != nil {
		return
	}
	f, err := os.Open(src)
	if err != nil {
		a.fail(err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		a.fail(err)
		return
	}
	if a.header(&cpio.Header{Name: name, Mode: cpio.TypeReg | cpio.FileMode(perm.Perm()), Size: fi.Size()}) {
		n, err := io.Copy(a.w, f)
		a.fail(err)
		if err == nil && n != fi.Size() {
			a.fail(fmt.Errorf("%s changed size while being copied", src))
		}
	}
}

func (a *archive) symlink(name, target string) {
	if a.header(&cpio.Header{Name: name, Mode: cpio.TypeSymlink | 0o777, Size: int64(len(target))}) {
		_, err := io.WriteString(a.w, target)
		a.fail(err)
	}
}

// pkgDir copies dir's regular files and symlinks (not its subdirectories)
// and its testdata/ tree.
func (a *archive) pkgDir(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		a.fail(err)
		return
	}
	rel := strings.TrimPrefix(filepath.ToSlash(dir), "/")
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		switch {
		case e.Type().IsRegular():
			fi, err := e.Info()
			if err != nil {
				a.fail(err)
				return
			}
			a.file(path.Join(rel, e.Name()), p, fi.Mode())
		case e.Type()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				a.fail(err)
				return
			}
			a.symlink(path.Join(rel, e.Name()), t)
		case e.IsDir() && e.Name() == "testdata":
			a.tree(p, path.Join(rel, e.Name()))
		}
	}
}

// tree copies the directory src as name, recursively.
func (a *archive) tree(src, name string) {
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		r, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		dst := path.Join(name, filepath.ToSlash(r))
		switch {
		case d.IsDir():
			a.dirAll(dst)
		case d.Type().IsRegular():
			fi, err := d.Info()
			if err != nil {
				return err
			}
			a.file(dst, p, fi.Mode())
		case d.Type()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			a.symlink(dst, t)
		}
		return a.err
	})
	a.fail(err)
}

func (a *archive) close() error {
	if a.err != nil {
		return a.err
	}
	a.fail(a.w.Close())
	return a.err
}

// newcInode numbers the hand-written entries far from the library's, which
// count from 1.
const newcInode = 0x7fff0000

// writeNewc writes one newc entry without data: a directory or a device
// node (mode includes the type bits), for what cavaliergopher/cpio cannot
// express. ino must be unique in the archive.
func writeNewc(w io.Writer, ino uint32, name string, mode, rmajor, rminor uint32) error {
	var b bytes.Buffer
	// magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor,
	// devminor, rdevmajor, rdevminor, namesize, check
	fmt.Fprintf(&b, "070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		newcInode+ino, mode, 0, 0, 1, 0, 0, 0, 0, rmajor, rminor, len(name)+1, 0)
	b.WriteString(name)
	b.WriteByte(0)
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("vmtest: initramfs: %w", err)
	}
	return nil
}

// buildInitrd writes the initramfs for one run to a new temporary file and
// returns its name; the caller removes it.
func buildInitrd(base string, cfg *GuestConfig, binary, dir string) (string, error) {
	f, err := os.CreateTemp("", "vmtest-initrd-*.cpio")
	if err != nil {
		return "", fmt.Errorf("vmtest: %w", err)
	}
	err = func() error {
		b, err := os.Open(base)
		if err != nil {
			return err
		}
		n, err := io.Copy(f, b)
		b.Close()
		if err != nil {
			return err
		}
		// The next archive starts 4-byte aligned.
		if pad := (4 - n%4) % 4; pad > 0 {
			if _, err := f.Write(make([]byte, pad)); err != nil {
				return err
			}
		}
		if err := writePayload(f, cfg, binary, dir); err != nil {
			return err
		}
		return f.Close()
	}()
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return "", fmt.Errorf("vmtest: initramfs: %w", err)
		}
		return "", err
	}
	return f.Name(), nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
