// Package devcluster runs a local Kubernetes control plane for a developer:
// etcd and kube-apiserver (through controller-runtime's envtest), and
// optionally kube-controller-manager as a child process, so that
// Deployments create ReplicaSets and Pods with real owner references,
// CronJobs create Jobs, DaemonSets a Pod per Node and StatefulSets their
// Pods. No node runs containers: a Kubelet (kubelet.go) registers Nodes,
// schedules Pods onto them and reports them running with addresses from
// the nodes' pod CIDRs.
package devcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Binaries Start runs, looked up in Options.AssetsDir.
const (
	EtcdBinary              = "etcd"
	APIServerBinary         = "kube-apiserver"
	ControllerManagerBinary = "kube-controller-manager"
)

// KubeconfigFile is the admin kubeconfig Start writes in Options.WorkDir.
const KubeconfigFile = "kubeconfig"

// AdminUser is the user of the kubeconfig: a member of system:masters.
const AdminUser = "redline-dev-admin"

// DefaultStartTimeout bounds each start step when Options leaves it zero.
const DefaultStartTimeout = 60 * time.Second

// Options configure Start.
type Options struct {
	// AssetsDir holds etcd, kube-apiserver and, with ControllerManager,
	// kube-controller-manager; empty means $KUBEBUILDER_ASSETS.
	AssetsDir string
	// WorkDir receives the kubeconfig files and the CA certificate; it
	// is created if missing. Required.
	WorkDir string
	// Out receives the output of etcd, kube-apiserver and
	// kube-controller-manager; nil discards it.
	Out io.Writer
	// Logger receives the cluster's progress; nil means slog.Default().
	Logger *slog.Logger
	// ControllerManager runs kube-controller-manager against the API
	// server.
	ControllerManager bool
	// ControllerManagerArgs are appended to kube-controller-manager's
	// arguments (a later flag wins: "--v=4" for more logs).
	ControllerManagerArgs []string
	// ServiceCIDR is the API server's service-cluster-ip-range; empty
	// means ServiceCIDR.
	ServiceCIDR string
	// StartTimeout bounds the start of each process; zero means
	// DefaultStartTimeout.
	StartTimeout time.Duration
}

// Cluster is a running dev control plane. Stop it.
type Cluster struct {
	env  *envtest.Environment
	cfg  *rest.Config
	kcm  *controllerManager
	log  *slog.Logger
	pids []int

	kubeconfig  string
	written     []string
	serviceCIDR string
	started     time.Duration

	stopOnce sync.Once
	stopErr  error
}

// Start runs etcd, kube-apiserver and, with Options.ControllerManager,
// kube-controller-manager, writes an admin kubeconfig under WorkDir and
// returns once the API server answers (and, with the controller manager,
// once its controllers act). On failure everything started is stopped.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	begin := time.Now()
	if opts.AssetsDir == "" {
		opts.AssetsDir = os.Getenv("KUBEBUILDER_ASSETS")
	}
	if opts.ServiceCIDR == "" {
		opts.ServiceCIDR = ServiceCIDR
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.WorkDir, 0o700); err != nil {
		return nil, fmt.Errorf("dev cluster: create work directory: %w", err)
	}
	c := &Cluster{log: opts.Logger.With("component", "devcluster"), serviceCIDR: opts.ServiceCIDR}
	defer func() {
		if err != nil {
			if stopErr := c.Stop(); stopErr != nil {
				c.log.Warn("stop after a failed start", "error", stopErr)
			}
		}
	}()

	c.env = &envtest.Environment{
		BinaryAssetsDirectory:    opts.AssetsDir,
		UseExistingCluster:       ptr.To(false),
		ControlPlaneStartTimeout: opts.StartTimeout,
		ControlPlaneStopTimeout:  20 * time.Second,
	}
	c.env.ControlPlane.Etcd = &envtest.Etcd{Out: opts.Out, Err: opts.Out}
	api := c.env.ControlPlane.GetAPIServer()
	api.Out, api.Err = opts.Out, opts.Out
	api.Configure().Set("service-cluster-ip-range", opts.ServiceCIDR)

	before := childPIDs()
	c.log.Info("starting etcd and kube-apiserver", "assets", opts.AssetsDir)
	cfg, err := c.env.Start()
	c.pids = newPIDs(before, childPIDs())
	if err != nil {
		return nil, fmt.Errorf("dev cluster: start etcd and kube-apiserver from %s: %w (rebuild them with hack/build-tools.sh envtest)", opts.AssetsDir, err)
	}
	c.cfg = cfg

	admin, err := c.env.AddUser(envtest.User{Name: AdminUser, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("dev cluster: add the admin user: %w", err)
	}
	if c.kubeconfig, err = c.writeKubeconfig(opts.WorkDir, KubeconfigFile, admin); err != nil {
		return nil, err
	}
	c.log.Info("API server ready", "host", cfg.Host, "kubeconfig", c.kubeconfig, "duration", time.Since(begin).Round(time.Millisecond))

	if opts.ControllerManager {
		if err := c.startControllerManager(ctx, opts); err != nil {
			return nil, err
		}
	}
	c.started = time.Since(begin)
	return c, nil
}

func (o Options) validate() error {
	if o.WorkDir == "" {
		return errors.New("dev cluster: no work directory given: say where the kubeconfig goes")
	}
	if o.AssetsDir == "" {
		return errors.New("dev cluster: no assets directory: set KUBEBUILDER_ASSETS to the directory of etcd and kube-apiserver (bin/k8s, built by hack/build-tools.sh envtest)")
	}
	need := []string{EtcdBinary, APIServerBinary}
	if o.ControllerManager {
		need = append(need, ControllerManagerBinary)
	}
	for _, b := range need {
		if _, err := os.Stat(filepath.Join(o.AssetsDir, b)); err != nil {
			return fmt.Errorf("dev cluster: %s not found in %s: build it with hack/build-tools.sh %s (a first build takes minutes)", b, o.AssetsDir, b)
		}
	}
	return nil
}

// RESTConfig is an admin client configuration of the API server. Callers
// may modify the copy they get.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.cfg) }

// KubeconfigPath is the admin kubeconfig Start wrote (usable with kubectl).
func (c *Cluster) KubeconfigPath() string { return c.kubeconfig }

// Host is the API server's URL.
func (c *Cluster) Host() string { return c.cfg.Host }

// ServiceCIDR is the API server's service-cluster-ip-range.
func (c *Cluster) ServiceCIDR() string { return c.serviceCIDR }

// StartDuration is how long Start took.
func (c *Cluster) StartDuration() time.Duration { return c.started }

// PIDs are the process ids of the control plane's processes: etcd,
// kube-apiserver and kube-controller-manager (the first two found as the
// children envtest started, on Linux).
func (c *Cluster) PIDs() []int {
	out := append([]int(nil), c.pids...)
	if c.kcm != nil {
		out = append(out, c.kcm.pid())
	}
	return out
}

// Stop stops kube-controller-manager (its whole process group), then
// kube-apiserver and etcd, waits for them to exit and removes the files
// Start wrote. It is safe to call more than once.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		var errs []error
		if c.kcm != nil {
			if err := c.kcm.stop(); err != nil {
				errs = append(errs, err)
			}
		}
		if c.env != nil {
			if err := c.env.Stop(); err != nil {
				errs = append(errs, fmt.Errorf("dev cluster: stop etcd and kube-apiserver: %w", err))
			}
		}
		for _, f := range c.written {
			if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("dev cluster: %w", err))
			}
		}
		c.stopErr = errors.Join(errs...)
		c.log.Info("dev cluster stopped")
	})
	return c.stopErr
}

// writeKubeconfig writes a user's kubeconfig under dir.
func (c *Cluster) writeKubeconfig(dir, name string, user *envtest.AuthenticatedUser) (string, error) {
	data, err := user.KubeConfig()
	if err != nil {
		return "", fmt.Errorf("dev cluster: kubeconfig for %s: %w", name, err)
	}
	return c.writeFile(dir, name, data)
}

func (c *Cluster) writeFile(dir, name string, data []byte) (string, error) {
	path, err := filepath.Abs(filepath.Join(dir, name))
	if err != nil {
		return "", fmt.Errorf("dev cluster: %w", err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return "", fmt.Errorf("dev cluster: write %s: %w", path, err)
	}
	c.written = append(c.written, path)
	return path, nil
}
