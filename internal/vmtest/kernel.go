package vmtest

import (
	"bufio"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Kernel names the runner knows how to fetch or build
// (internal/vmtest/scripts/kernels.sh).
var KnownKernels = []string{"stock-6.12", "stock-7.2", "devmem-7.2"}

// DefaultKernel is booted when neither -kernel nor $VMTEST_KERNEL says
// otherwise.
const DefaultKernel = "stock-7.2"

// A Kernel is a bootable kernel image and the modules its guest loads.
type Kernel struct {
	// Name is the kernel's name (stock-7.2, ...) or, for a kernel given by
	// path, the image's file name. The guest sees it as $DEVMEM_VMTEST.
	Name string
	// Image is the path of the bzImage.
	Image string
	// Modules are the host paths of the modules to load, in load order.
	Modules []string
}

// CacheDir is $DEVMEM_CACHE, or $HOME/.cache/devmem-go.
func CacheDir() string {
	if d := os.Getenv("DEVMEM_CACHE"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "devmem-go-cache")
	}
	return filepath.Join(home, ".cache", "devmem-go")
}

// FindKernel resolves name, a kernel name from [KnownKernels] looked up in
// cache/kernels/NAME/, or the path of a bzImage (containing a '/'). A
// directory modules/ next to the image with a modules.load file lists the
// modules to load.
func FindKernel(cache, name string) (*Kernel, error) {
	var k Kernel
	if strings.ContainsRune(name, '/') {
		k.Name = filepath.Base(name)
		k.Image = name
	} else {
		k.Name = name
		k.Image = filepath.Join(cache, "kernels", name, "bzImage")
		// An uncompressed kernel with a PVH entry point boots ~1 s faster
		// under TCG (no self-decompression); kernels.sh extracts it where
		// it can.
		if vmlinux := filepath.Join(cache, "kernels", name, "vmlinux"); hasPVHEntry(vmlinux) {
			k.Image = vmlinux
		}
	}
	if _, err := os.Stat(k.Image); err != nil {
		if errors.Is(err, os.ErrNotExist) && !strings.ContainsRune(name, '/') {
			return nil, fmt.Errorf("vmtest: kernel %q is not in the cache (%s): run `make kernels` or internal/vmtest/scripts/kernels.sh %s (known kernels: %s): %w",
				name, k.Image, name, strings.Join(KnownKernels, ", "), err)
		}
		return nil, fmt.Errorf("vmtest: kernel image: %w", err)
	}
	mods, err := readModuleList(filepath.Join(filepath.Dir(k.Image), "modules"))
	if err != nil {
		return nil, err
	}
	k.Modules = mods
	return &k, nil
}

// readModuleList reads dir/modules.load, one module file name per line.
// No such file: no modules.
func readModuleList(dir string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, "modules.load"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("vmtest: module list: %w", err)
	}
	defer f.Close()
	var mods []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.ContainsRune(line, '/') {
			return nil, fmt.Errorf("vmtest: %s: want file names, got %q", f.Name(), line)
		}
		p := filepath.Join(dir, line)
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("vmtest: module listed in %s: %w", f.Name(), err)
		}
		mods = append(mods, p)
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("vmtest: module list: %w", err)
	}
	return mods, nil
}

// hasPVHEntry reports whether path is an ELF kernel with a PVH entry point
// (the XEN_ELFNOTE_PHYS32_ENTRY note), which QEMU can boot directly.
func hasPVHEntry(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	const xenElfnotePhys32Entry = 18
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			return false
		}
		for len(b) >= 12 {
			namesz := binary.LittleEndian.Uint32(b[0:4])
			descsz := binary.LittleEndian.Uint32(b[4:8])
			typ := binary.LittleEndian.Uint32(b[8:12])
			b = b[12:]
			nlen, dlen := align4(namesz), align4(descsz)
			if uint64(len(b)) < nlen+dlen {
				break
			}
			if typ == xenElfnotePhys32Entry && strings.TrimRight(string(b[:namesz]), "\x00") == "Xen" {
				return true
			}
			b = b[nlen+dlen:]
		}
	}
	return false
}

func align4(n uint32) uint64 { return (uint64(n) + 3) &^ 3 }
