package devcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// ControllerManagerUser is the identity kube-controller-manager uses: a
// member of system:masters, since it runs every controller with its own
// credentials (--use-service-account-credentials=false).
const ControllerManagerUser = "system:kube-controller-manager"

// disabledControllers need nodes that report to them (node lifecycle,
// taint eviction) or a cloud (node IPAM): the Kubelet plays the nodes.
var disabledControllers = []string{
	"node-lifecycle-controller",
	"node-ipam-controller",
	"taint-eviction-controller",
	"device-taint-eviction-controller",
}

// stopGrace is how long kube-controller-manager gets to exit after SIGTERM
// before it is killed.
const stopGrace = 10 * time.Second

// controllerManager is the kube-controller-manager child process.
type controllerManager struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // set before done closes
	tail *tailBuffer
}

func (c *Cluster) startControllerManager(ctx context.Context, opts Options) error {
	begin := time.Now()
	user, err := c.env.AddUser(envtest.User{Name: ControllerManagerUser, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("dev cluster: add the controller manager's user: %w", err)
	}
	kubeconfig, err := c.writeKubeconfig(opts.WorkDir, "controller-manager.kubeconfig", user)
	if err != nil {
		return err
	}
	caFile, err := c.writeFile(opts.WorkDir, "ca.crt", c.cfg.CAData)
	if err != nil {
		return err
	}
	// envtest generates the service account signing key pair; the API
	// server verifies with its public half, the token controller signs
	// with the private one.
	api := c.env.ControlPlane.GetAPIServer()
	saKey := filepath.Join(api.CertDir, "sa-signer.key")
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--secure-port=0",
		"--leader-elect=false",
		"--use-service-account-credentials=false",
		"--service-account-private-key-file=" + saKey,
		"--root-ca-file=" + caFile,
		"--controllers=*,-" + strings.Join(disabledControllers, ",-"),
		"--concurrent-deployment-syncs=2",
		"--v=1",
	}
	args = append(args, opts.ControllerManagerArgs...)
	path := filepath.Join(opts.AssetsDir, ControllerManagerBinary)
	cmd := exec.Command(path, args...)
	tail := &tailBuffer{max: 4096}
	out := io.MultiWriter(opts.Out, tail)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("dev cluster: start %s: %w", path, err)
	}
	kcm := &controllerManager{cmd: cmd, done: make(chan struct{}), tail: tail}
	go func() {
		kcm.err = cmd.Wait()
		close(kcm.done)
	}()
	c.kcm = kcm
	c.log.Info("started kube-controller-manager", "pid", cmd.Process.Pid)

	// The service account controller creates default/default as soon as
	// its informers sync: the controllers act.
	client, err := kubernetes.NewForConfig(c.cfg)
	if err != nil {
		return fmt.Errorf("dev cluster: %w", err)
	}
	wait, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	for {
		_, err := client.CoreV1().ServiceAccounts("default").Get(wait, "default", metav1.GetOptions{})
		if err == nil {
			break
		}
		if !apierrors.IsNotFound(err) {
			c.log.Debug("waiting for the controller manager", "error", err)
		}
		select {
		case <-kcm.done:
			return fmt.Errorf("dev cluster: kube-controller-manager exited at start (%v); its last output:\n%s", kcm.err, tail.String())
		case <-wait.Done():
			return fmt.Errorf("dev cluster: kube-controller-manager did not create the default service account within %s: its controllers do not run; its last output:\n%s", opts.StartTimeout, tail.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	c.log.Info("controller manager ready", "duration", time.Since(begin).Round(time.Millisecond))
	return nil
}

func (k *controllerManager) pid() int { return k.cmd.Process.Pid }

// stop terminates the controller manager's process group and waits for it.
func (k *controllerManager) stop() error {
	select {
	case <-k.done:
		return nil // already exited
	default:
	}
	pid := k.cmd.Process.Pid
	_ = killGroup(pid, syscall.SIGTERM)
	select {
	case <-k.done:
		return nil
	case <-time.After(stopGrace):
	}
	if err := killGroup(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("dev cluster: kill kube-controller-manager (pid %d): %w", pid, err)
	}
	<-k.done
	return nil
}

// tailBuffer keeps the last bytes written to it, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
