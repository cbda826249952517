package report

import (
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// chromium finds a headless-capable Chromium (Debian's package: chromium).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium installed (apt-get install chromium)")
	return ""
}

// Screenshot opens page in headless Chromium and returns the screenshot.
func screenshot(t *testing.T, page string, width, height int) image.Image {
	t.Helper()
	bin := chromium(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "shot.png")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--screenshot="+out,
		"--window-size="+itoa(width)+","+itoa(height), "file://"+page)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, msg)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestChromiumScreenshot renders the recorded build's report in headless
// Chromium: the screenshot is not blank (its brightness varies), and the
// Gantt bars of built nodes are drawn in their colour.
func TestChromiumScreenshot(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	chromium(t)
	page := filepath.Join(t.TempDir(), "timings.html")
	if err := os.WriteFile(page, render(t, recorded(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	img := screenshot(t, page, 1400, 900)
	bounds := img.Bounds()
	if bounds.Dx() != 1400 || bounds.Dy() != 900 {
		t.Errorf("screenshot is %v", bounds)
	}
	var sum, sq float64
	var n, built, white int
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			r, g, b = r>>8, g>>8, b>>8
			l := 0.299*float64(r) + 0.587*float64(g) + 0.114*float64(b)
			sum += l
			sq += l * l
			n++
			if r > 250 && g > 250 && b > 250 {
				white++
			}
			// --built: #2f6fba
			if near(r, 0x2f) && near(g, 0x6f) && near(b, 0xba) {
				built++
			}
		}
	}
	mean := sum / float64(n)
	variance := sq/float64(n) - mean*mean
	t.Logf("brightness mean %.1f variance %.1f; %d%% white; %d pixels of built bars", mean, variance, white*100/n, built)
	if variance < 200 {
		t.Errorf("screenshot looks blank: brightness variance %.1f", variance)
	}
	if white == n || white < n/3 {
		t.Errorf("%d of %d pixels white: not the page's white background with content", white, n)
	}
	if built < 2000 {
		t.Errorf("only %d pixels in the colour of built nodes: the Gantt chart did not render", built)
	}
}

func near(v, want uint32) bool { return v+12 >= want && v <= want+12 }
