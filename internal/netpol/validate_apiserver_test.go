package netpol

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// validateAPIServer is the control plane shared by the package's tests
// (STYLE.md rule 5), started once by TestMain when KUBEBUILDER_ASSETS is set.
var validateAPIServer struct {
	client   client.Client
	startErr error
}

func TestMain(m *testing.M) {
	os.Exit(validateRunTests(m))
}

// validateRunTests starts the control plane if the binaries are there; a
// failed start is reported by the tests that need it, so the pure tests
// still run.
func validateRunTests(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return m.Run()
	}
	env := &envtest.Environment{}
	cfg, err := env.Start()
	if err != nil {
		validateAPIServer.startErr = fmt.Errorf("start envtest control plane from KUBEBUILDER_ASSETS=%s: %w", os.Getenv("KUBEBUILDER_ASSETS"), err)
		return m.Run()
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop envtest control plane: %v\n", err)
		}
	}()
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		validateAPIServer.startErr = fmt.Errorf("client for envtest control plane: %w", err)
		return m.Run()
	}
	validateAPIServer.client = c
	return m.Run()
}

// validateNeedAPIServer fails the test when there is no control plane: a
// skipped comparison would look like a passing one.
func validateNeedAPIServer(t *testing.T) client.Client {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS not set: run `make test`, which builds the control plane with hack/build-tools.sh")
	}
	if validateAPIServer.startErr != nil {
		t.Fatal(validateAPIServer.startErr)
	}
	return validateAPIServer.client
}

// TestValidateAgainstAPIServer sends every case of the table to a real
// kube-apiserver (dry-run creates) and checks that it accepts exactly the
// valid ones and reports the same causes, in the same order, as Validate.
func TestValidateAgainstAPIServer(t *testing.T) {
	c := validateNeedAPIServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "validate-"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() { _ = c.Delete(context.Background(), ns) })

	for _, tc := range validateCases() {
		t.Run(tc.name, func(t *testing.T) {
			np := tc.np.DeepCopy()
			np.Namespace = ns.Name
			ours := Validate(np)

			err := c.Create(ctx, np.DeepCopy(), client.DryRunAll)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("API server rejected a policy the table calls valid: %v", err)
				}
				if len(ours) != 0 {
					t.Fatalf("API server accepted a policy Validate rejects: %v", ours.ToAggregate())
				}
				return
			}
			if err == nil {
				t.Fatalf("API server accepted a policy the table calls invalid (want %v)", tc.want)
			}
			var status apierrors.APIStatus
			if !apierrors.IsInvalid(err) || !errors.As(err, &status) || status.Status().Details == nil {
				t.Fatalf("API server answered %v, want 422 Invalid with causes", err)
			}
			causes := status.Status().Details.Causes
			t.Logf("API server: %s", status.Status().Message)

			var server []validateWant
			for _, cause := range causes {
				server = append(server, validateWant{typ: field.ErrorType(cause.Type), path: cause.Field})
			}
			if !validateSame(server, tc.want) {
				t.Errorf("API server causes = %v, table wants %v", server, tc.want)
			}
			if got := validateGot(ours); !validateSame(server, got) {
				t.Errorf("API server causes = %v, Validate = %v\nserver: %v\nours:   %v", server, got, err, ours.ToAggregate())
				return
			}
			for i, cause := range causes {
				// A generated name carries the server's random suffix.
				if cause.Field == "metadata.name" && np.Name == "" {
					continue
				}
				if body := ours[i].ErrorBody(); body != cause.Message {
					t.Errorf("cause %d (%s) message:\nserver: %s\nours:   %s", i, cause.Field, cause.Message, body)
				}
			}
		})
	}
}
