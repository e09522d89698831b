package ext4

import (
	"bytes"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReplayDebugfsTransaction leaves committed transactions in the journal
// with debugfs's journal commands (jo/jw/jc, e2fsprogs >= 1.43), then checks
// that Mount replays them: logged blocks land home, revoked ones do not.
func TestReplayDebugfsTransaction(t *testing.T) {
	for _, csum := range []bool{true, false} {
		name := "nocsum"
		if csum {
			name = "csum3"
		}
		t.Run(name, func(t *testing.T) {
			img := mkImage(t, 8<<10, "", "-b", "1024")
			payload := make([]byte, 3*1024)
			rand.New(rand.NewSource(3)).Read(payload)
			// Make one block start with the jbd2 magic so the escape path
			// is exercised.
			copy(payload[2048:], []byte{0xC0, 0x3B, 0x39, 0x98})
			pf := filepath.Join(t.TempDir(), "payload")
			os.WriteFile(pf, payload, 0o644)
			jo := "jo"
			if csum {
				jo = "jo -c"
			}
			script := jo + "\njw -b 5000,5001,5002 " + pf + "\njw -r 5001\njc\n"
			cmd := exec.Command(tool(t, "debugfs"), "-w", "-f", "-", img)
			cmd.Stdin = strings.NewReader(script)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("debugfs: %v\n%s", err, out)
			}
			if out := debugfs(t, img, false, "logdump"); !strings.Contains(out, "revoke") {
				t.Fatalf("debugfs left no revoke transaction:\n%s", out)
			}
			before := make([]byte, 1024)
			raw, _ := os.ReadFile(img)
			copy(before, raw[5001*1024:])
			if bytes.Equal(raw[5000*1024:5001*1024], payload[:1024]) {
				t.Fatalf("debugfs wrote block 5000 home itself; the test proves nothing")
			}

			var logs []string
			dev, err := OpenFile(img, false)
			if err != nil {
				t.Fatal(err)
			}
			fs, err := Mount(dev, Options{Log: func(f string, a ...any) { logs = append(logs, f) }})
			if err != nil {
				t.Fatal(err)
			}
			ok(t, fs.Close())
			dev.Close()
			if len(logs) == 0 {
				t.Errorf("no recovery was reported")
			}
			raw, _ = os.ReadFile(img)
			if !bytes.Equal(raw[5000*1024:5001*1024], payload[:1024]) {
				t.Errorf("block 5000 was not replayed")
			}
			if !bytes.Equal(raw[5002*1024:5003*1024], payload[2048:]) {
				t.Errorf("block 5002 (escaped magic) was not replayed correctly")
			}
			if !bytes.Equal(raw[5001*1024:5002*1024], before) {
				t.Errorf("revoked block 5001 was replayed")
			}
			fsck(t, img)
			if out := debugfs(t, img, false, "logdump"); !strings.Contains(out, "Journal starts at block 0") &&
				!strings.Contains(out, "Journal superblock magic number invalid") && strings.Contains(out, "Found expected") {
				t.Errorf("journal not empty after recovery:\n%s", out)
			}
		})
	}
}
