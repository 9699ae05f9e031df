package fs

import (
	"errors"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watchDelay is how long the watcher waits after the first event of a burst
// before reading: long enough to skip the empty file between the truncate
// and the write of os.WriteFile, short enough not to matter.
const watchDelay = 20 * time.Millisecond

// startWatch starts watching the directory for changes.
func (n *Namer) startWatch() error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	if err := w.Add(n.dir); err != nil {
		w.Close()
		return err
	}
	n.watcher = w
	n.watchDone = make(chan struct{})
	go n.watchLoop(w)
	return nil
}

// watchLoop collects the names that events touch and reloads them
// watchDelay after the first event of a burst. It exits when the watcher
// is closed.
func (n *Namer) watchLoop(w *fsnotify.Watcher) {
	defer close(n.watchDone)
	timer := time.NewTimer(0)
	<-timer.C
	defer timer.Stop()

	var (
		pending = map[string]bool{} // base names
		all     bool                // events were lost: check every name
		armed   bool
	)
	arm := func() {
		if !armed {
			timer.Reset(watchDelay)
			armed = true
		}
	}
	for {
		select {
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if ev.Op == fsnotify.Chmod {
				continue // no content change; a touch shows up on the next TTL check
			}
			pending[filepath.Base(ev.Name)] = true
			arm()
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			n.log.Warn("fs: watcher error", "dir", n.dir, "error", err)
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				all = true
				arm()
			}
		case <-timer.C:
			armed = false
			n.reloadChanged(pending, all)
			clear(pending)
			all = false
		}
	}
}

// reloadChanged reloads the entries named in changed, reading their files
// whatever their stamps. Events for other files (new names, temporary
// files, the symlinks of a Kubernetes volume) and lost events make it
// check every other entry by stamp.
func (n *Namer) reloadChanged(changed map[string]bool, all bool) {
	n.mu.RLock()
	var direct, others []*entry
	for nm := range changed {
		if e := n.entries[nm]; e != nil {
			direct = append(direct, e)
		} else {
			all = true
		}
	}
	if all {
		for nm, e := range n.entries {
			if !changed[nm] {
				others = append(others, e)
			}
		}
	}
	n.mu.RUnlock()
	for _, e := range direct {
		e.reload(true)
	}
	for _, e := range others {
		e.reload(false)
	}
}
