/*
 * klo-probe: the reference KLO workload of klo-spec.
 *
 * It plays one CNN inference as a sequence of kernels, the way a mobile
 * inference engine (ACL, TFLite's GPU delegate) drives an OpenCL queue:
 * for each kernel the host does real work (argument and layer-parameter
 * computation: T_prod), enqueues a kernel that does real device work (T_ker),
 * and flushes the queue every K kernels. It measures T_prod on the host clock
 * and T_ker and T_idle from device timestamps (OpenCL event profiling, or the
 * worker thread's clock), and prints the KLO v1 log contract. Each kernel's
 * record ends with its timeline: when it was enqueued, started and ended,
 * in µs from the inference's start on the host clock (t_enq_us, t_start_us,
 * t_end_us; an OpenCL device's clock is tied to the host's at the first
 * kernel, queued when the host enqueued it).
 *
 * Devices:
 *   opencl  libOpenCL is loaded at run time (dlopen), so the binary has no
 *           build dependency on OpenCL headers or libraries;
 *   thread  a CPU worker thread plays the GPU (used when no OpenCL platform
 *           exists; the log says so);
 *   auto    an OpenCL GPU (or accelerator) if there is one, else thread: an
 *           OpenCL device of the CPU type (pocl) runs its kernels on the
 *           host's own cores, so host and device never overlap and it is no
 *           stand-in for a GPU (ask for it with -d opencl).
 * Submission modes:
 *   native    the driver's behaviour: kernels go to the device as the driver
 *             decides (desktop runtimes submit on enqueue; the thread device
 *             submits every kernel at once);
 *   deferred  kernels are held until the flush, as mobile drivers do. On
 *             OpenCL the first kernel of a batch waits on a user event that
 *             the flush completes; on the thread device the batch is handed
 *             to the worker at the flush. Needed to see the phenomenon on a
 *             desktop runtime.
 *
 * Usage: klo-probe -f KERNELS -n NET -i ITERS -k K [-s native|deferred]
 *                  [-d auto|opencl|thread] [-P PLATFORM] [-g GLOBAL]
 *                  [-F FLUSH_UNITS] [-U SUBMIT_US] [-S SCHEDULE | -L LUT]
 *        klo-probe -L LUT -q T_PROD_US T_KER_US      (prints the LUT's K)
 * KERNELS is a text file, one kernel per line: "name ker_units prod_units"
 * ('#' starts a comment). Exit codes: 0 ok, 2 usage, 3 device unavailable,
 * 4 runtime failure.
 *
 * Portable C99 + POSIX threads + dlopen.
 */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROBE_VERSION "1"
#define MAX_KERNELS 4096
#define NAME_LEN 48
/* Most work units of one kernel (host or device): about a minute of work
 * on a phone core; above it a count is a mistake. */
#define MAX_UNITS 1000000000000ULL

/* ------------------------------------------------------------------ util */

/* The monotonic clock in integer nanoseconds: a double holds whole
 * nanoseconds only up to 2^53 (104 days of uptime), so times are kept as
 * integers and only their differences become doubles. */
static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* b - a in nanoseconds, as a double: the integers are subtracted first,
 * so no precision is lost however large they are; negative when b < a. */
static double ns_between(uint64_t a, uint64_t b)
{
    return b >= a ? (double)(b - a) : -(double)(a - b);
}

/* Sleeps `ns` nanoseconds: tv_nsec must stay below a second (nanosleep
 * refuses anything else with EINVAL, and returns at once). */
static void sleep_ns(uint64_t ns)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(ns / 1000000000u);
    ts.tv_nsec = (long)(ns % 1000000000u);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void die(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("klo-probe: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(code);
}

/* Host-side work standing in for argument and layer-parameter computation:
 * integer math whose time scales with the CPU's speed and its share of it. */
static volatile uint64_t host_sink;
static void host_work(unsigned long units)
{
    uint64_t x = host_sink | 1u;
    for (unsigned long i = 0; i < units; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        x ^= x >> 29;
    }
    host_sink = x;
}

/* Device work of the thread device: a dependent floating-point chain, the
 * same arithmetic as the OpenCL kernel below. */
static volatile float device_sink;
static void device_work(unsigned long units)
{
    float a = device_sink + 1.0f, b = 1.0001f;
    for (unsigned long i = 0; i < units; i++) {
        a = a * b + 0.0001f;
        b = b * 0.99999f + 0.00001f;
    }
    device_sink = a;
}

/* --------------------------------------------------------------- kernels */

struct kernel_spec {
    char name[NAME_LEN];
    unsigned long ker_units;
    unsigned long prod_units;
};

static int load_kernels(const char *path, struct kernel_spec *ks)
{
    FILE *f = fopen(path, "r");
    if (!f)
        die(2, "cannot open kernel list %s: %s", path, strerror(errno));
    char line[256];
    int n = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char name[NAME_LEN], kw[32], pw[32];
        char extra[2];
        int got = sscanf(line, "%47s %31s %31s %1s", name, kw, pw, extra);
        if (got <= 0)
            continue;
        if (got != 3)
            die(2, "%s:%d: expected 'name ker_units prod_units'", path, lineno);
        /* Whole numbers only: strtoul would take "-1" as a huge count. */
        char *end = NULL;
        errno = 0;
        unsigned long ku = strtoul(kw, &end, 10);
        if (kw[0] == '-' || kw[0] == '+' || errno || *end || end == kw ||
            (unsigned long long)ku > MAX_UNITS)
            die(2, "%s:%d: ker_units must be a whole number in 0..%llu, got '%s'", path, lineno,
                MAX_UNITS, kw);
        errno = 0;
        unsigned long pu = strtoul(pw, &end, 10);
        if (pw[0] == '-' || pw[0] == '+' || errno || *end || end == pw ||
            (unsigned long long)pu > MAX_UNITS)
            die(2, "%s:%d: prod_units must be a whole number in 0..%llu, got '%s'", path, lineno,
                MAX_UNITS, pw);
        if (n == MAX_KERNELS)
            die(2, "%s: more than %d kernels", path, MAX_KERNELS);
        memcpy(ks[n].name, name, NAME_LEN);
        ks[n].ker_units = ku;
        ks[n].prod_units = pu;
        n++;
    }
    fclose(f);
    if (n == 0)
        die(2, "%s: no kernels", path);
    return n;
}

/* ------------------------------------------------------- device interface */

/* Per-inference record of one kernel, filled by the device: device
 * timestamps in nanoseconds (OpenCL's cl_ulong, or the worker's clock). */
struct kernel_times {
    uint64_t start_ns, end_ns;
    /* When the kernel was queued, on the device's clock (OpenCL's
     * CL_PROFILING_COMMAND_QUEUED; 0 when unknown): it ties the device's
     * clock to the host's for the timeline. */
    uint64_t queued_ns;
};

struct device {
    const char *kind;
    /* Its timestamps are on the host's monotonic clock (the thread
     * device), not a device clock of its own. */
    int host_clock;
    /* Called before the first kernel of an inference, for n kernels. */
    int (*begin)(struct device *, int n);
    /* Host side: make kernel i (of `units` work) known to the device. */
    int (*enqueue)(struct device *, int i, unsigned long units);
    /* Host side: submit everything enqueued so far. */
    int (*flush)(struct device *);
    /* Wait until the inference has finished, then fill times[0..n). */
    int (*finish)(struct device *, struct kernel_times *times);
    void (*input_upload)(struct device *);
};

static int submit_deferred = 0;        /* -s deferred */
static unsigned long flush_units = 0;   /* host work per flush (driver cost) */
static uint64_t submit_latency_ns = 0;  /* flush to runnable (thread device) */

/* ---------------------------------------------------------- thread device */

struct thread_dev {
    struct device base;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t work_cv, done_cv;
    int n;                 /* kernels in this inference */
    int enqueued;          /* kernels enqueued by the host */
    int submitted;         /* kernels the worker may run */
    int executed;          /* kernels the worker has finished */
    int generation;        /* inference counter, so the worker knows a reset */
    int quit;
    unsigned char batch_start[MAX_KERNELS];
    uint64_t release_ns[MAX_KERNELS];  /* when a batch may start (flush + L) */
    unsigned long units[MAX_KERNELS];
    struct kernel_times times[MAX_KERNELS];
    float input[224 * 224 * 3];
    float staging[224 * 224 * 3];
};

static void *thread_worker(void *arg)
{
    struct thread_dev *d = arg;
    pthread_mutex_lock(&d->mu);
    for (;;) {
        while (!d->quit && d->executed >= d->submitted)
            pthread_cond_wait(&d->work_cv, &d->mu);
        if (d->quit)
            break;
        int i = d->executed;
        int gen = d->generation;
        int batch = d->batch_start[i];
        uint64_t release = d->release_ns[i];
        unsigned long units = d->units[i];
        pthread_mutex_unlock(&d->mu);
        /* A batch becomes runnable a submission latency after its flush
         * (the timing model's L): the device idles until then, while it may
         * still be running earlier batches, as a GPU does. */
        if (batch) {
            for (uint64_t t = now_ns(); t < release; t = now_ns()) {
                if (release - t > 200000)
                    sleep_ns(release - t - 100000);
            }
        }
        uint64_t s = now_ns();
        device_work(units);
        uint64_t e = now_ns();
        pthread_mutex_lock(&d->mu);
        if (gen != d->generation)
            continue;
        d->times[i].start_ns = s;
        d->times[i].end_ns = e;
        d->executed = i + 1;
        if (d->executed == d->n)
            pthread_cond_broadcast(&d->done_cv);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

static int thread_begin(struct device *dev, int n)
{
    struct thread_dev *d = (struct thread_dev *)dev;
    pthread_mutex_lock(&d->mu);
    d->generation++;
    d->n = n;
    d->enqueued = d->submitted = d->executed = 0;
    memset(d->batch_start, 0, sizeof d->batch_start);
    pthread_mutex_unlock(&d->mu);
    return 0;
}

static void thread_submit_locked(struct thread_dev *d)
{
    if (d->submitted < d->enqueued) {
        d->batch_start[d->submitted] = 1;
        d->release_ns[d->submitted] = now_ns() + submit_latency_ns;
        d->submitted = d->enqueued;
        pthread_cond_signal(&d->work_cv);
    }
}

static int thread_enqueue(struct device *dev, int i, unsigned long units)
{
    struct thread_dev *d = (struct thread_dev *)dev;
    pthread_mutex_lock(&d->mu);
    d->units[i] = units;
    d->enqueued = i + 1;
    if (!submit_deferred)
        thread_submit_locked(d);
    pthread_mutex_unlock(&d->mu);
    return 0;
}

static int thread_flush(struct device *dev)
{
    struct thread_dev *d = (struct thread_dev *)dev;
    pthread_mutex_lock(&d->mu);
    thread_submit_locked(d);
    pthread_mutex_unlock(&d->mu);
    return 0;
}

static int thread_finish(struct device *dev, struct kernel_times *times)
{
    struct thread_dev *d = (struct thread_dev *)dev;
    pthread_mutex_lock(&d->mu);
    thread_submit_locked(d);
    while (d->executed < d->n)
        pthread_cond_wait(&d->done_cv, &d->mu);
    memcpy(times, d->times, sizeof(struct kernel_times) * (size_t)d->n);
    pthread_mutex_unlock(&d->mu);
    return 0;
}

static void thread_input_upload(struct device *dev)
{
    struct thread_dev *d = (struct thread_dev *)dev;
    d->input[0] += 1.0f;
    memcpy(d->staging, d->input, sizeof d->input);
}

static struct device *thread_dev_create(void)
{
    struct thread_dev *d = calloc(1, sizeof *d);
    if (!d)
        die(4, "out of memory");
    d->base.kind = "thread";
    d->base.host_clock = 1;
    d->base.begin = thread_begin;
    d->base.enqueue = thread_enqueue;
    d->base.flush = thread_flush;
    d->base.finish = thread_finish;
    d->base.input_upload = thread_input_upload;
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->work_cv, NULL);
    pthread_cond_init(&d->done_cv, NULL);
    if (pthread_create(&d->th, NULL, thread_worker, d) != 0)
        die(4, "cannot start the worker thread");
    return &d->base;
}

/* ---------------------------------------------------------- OpenCL device */

/* The few OpenCL types and constants used here, as the Khronos API defines
 * them; declared locally so the probe builds with no OpenCL headers. */
typedef int32_t cl_int;
typedef uint32_t cl_uint;
typedef uint64_t cl_ulong;
typedef uint64_t cl_bitfield;
typedef cl_bitfield cl_device_type;
typedef cl_bitfield cl_command_queue_properties;
typedef cl_bitfield cl_mem_flags;
typedef cl_uint cl_platform_info;
typedef cl_uint cl_device_info;
typedef cl_uint cl_program_build_info;
typedef cl_uint cl_profiling_info;
typedef intptr_t cl_context_properties;
typedef struct _cl_platform_id *cl_platform_id;
typedef struct _cl_device_id *cl_device_id;
typedef struct _cl_context *cl_context;
typedef struct _cl_command_queue *cl_command_queue;
typedef struct _cl_mem *cl_mem;
typedef struct _cl_program *cl_program;
typedef struct _cl_kernel *cl_kernel;
typedef struct _cl_event *cl_event;

#define CL_SUCCESS 0
#define CL_TRUE 1
#define CL_COMPLETE 0x0
#define CL_DEVICE_TYPE_GPU (1 << 2)
#define CL_DEVICE_TYPE_ACCELERATOR (1 << 3)
#define CL_DEVICE_TYPE_ALL 0xFFFFFFFF
#define CL_QUEUE_PROFILING_ENABLE (1 << 1)
#define CL_MEM_READ_WRITE (1 << 0)
#define CL_PLATFORM_NAME 0x0902
#define CL_DEVICE_NAME 0x102B
#define CL_DRIVER_VERSION 0x102D
#define CL_PROGRAM_BUILD_LOG 0x1183
#define CL_PROFILING_COMMAND_QUEUED 0x1280
#define CL_PROFILING_COMMAND_START 0x1282
#define CL_PROFILING_COMMAND_END 0x1283

struct cl_api {
    cl_int (*GetPlatformIDs)(cl_uint, cl_platform_id *, cl_uint *);
    cl_int (*GetPlatformInfo)(cl_platform_id, cl_platform_info, size_t, void *, size_t *);
    cl_int (*GetDeviceIDs)(cl_platform_id, cl_device_type, cl_uint, cl_device_id *, cl_uint *);
    cl_int (*GetDeviceInfo)(cl_device_id, cl_device_info, size_t, void *, size_t *);
    cl_context (*CreateContext)(const cl_context_properties *, cl_uint, const cl_device_id *,
                                void (*)(const char *, const void *, size_t, void *), void *,
                                cl_int *);
    cl_command_queue (*CreateCommandQueue)(cl_context, cl_device_id, cl_command_queue_properties,
                                           cl_int *);
    cl_program (*CreateProgramWithSource)(cl_context, cl_uint, const char **, const size_t *,
                                          cl_int *);
    cl_int (*BuildProgram)(cl_program, cl_uint, const cl_device_id *, const char *,
                           void (*)(cl_program, void *), void *);
    cl_int (*GetProgramBuildInfo)(cl_program, cl_device_id, cl_program_build_info, size_t,
                                  void *, size_t *);
    cl_kernel (*CreateKernel)(cl_program, const char *, cl_int *);
    cl_mem (*CreateBuffer)(cl_context, cl_mem_flags, size_t, void *, cl_int *);
    cl_int (*SetKernelArg)(cl_kernel, cl_uint, size_t, const void *);
    cl_int (*EnqueueNDRangeKernel)(cl_command_queue, cl_kernel, cl_uint, const size_t *,
                                   const size_t *, const size_t *, cl_uint, const cl_event *,
                                   cl_event *);
    cl_int (*EnqueueWriteBuffer)(cl_command_queue, cl_mem, cl_uint, size_t, size_t, const void *,
                                 cl_uint, const cl_event *, cl_event *);
    cl_int (*Flush)(cl_command_queue);
    cl_int (*Finish)(cl_command_queue);
    cl_int (*GetEventProfilingInfo)(cl_event, cl_profiling_info, size_t, void *, size_t *);
    cl_int (*ReleaseEvent)(cl_event);
    cl_event (*CreateUserEvent)(cl_context, cl_int *);
    cl_int (*SetUserEventStatus)(cl_event, cl_int);
};

static const char *cl_kernel_source =
    "__kernel void klo_work(__global float *buf, uint iters) {\n"
    "  size_t g = get_global_id(0);\n"
    "  float a = buf[g] + 1.0f, b = 1.0001f;\n"
    "  for (uint i = 0; i < iters; i++) { a = a * b + 0.0001f; b = b * 0.99999f + 0.00001f; }\n"
    "  buf[g] = a;\n"
    "}\n";

struct cl_dev {
    struct device base;
    struct cl_api api;
    cl_context ctx;
    cl_command_queue q;
    cl_kernel kernel;
    cl_mem buf, input_buf;
    size_t global;
    cl_event events[MAX_KERNELS];
    cl_event gate;         /* user event holding the current deferred batch */
    int n, enqueued;
    char platform[128], device_name[128], driver[64];
    float input[224 * 224 * 3];
};

static char cl_error[256];

static int cl_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cl_error, sizeof cl_error, fmt, ap);
    va_end(ap);
    return -1;
}

static void *load_opencl(void)
{
    const char *env = getenv("KLO_OPENCL_LIB");
    const char *candidates[] = {
        env,
        "libOpenCL.so.1",
        "libOpenCL.so",
        "/vendor/lib64/libOpenCL.so",
        "/system/vendor/lib64/libOpenCL.so",
        "/vendor/lib64/egl/libGLES_mali.so",
        "/vendor/lib/libOpenCL.so",
        NULL,
    };
    char first_error[160] = "";
    size_t count = sizeof candidates / sizeof candidates[0];
    for (size_t i = env ? 0 : 1; i < count && candidates[i]; i++) {
        void *h = dlopen(candidates[i], RTLD_NOW | RTLD_LOCAL);
        if (h)
            return h;
        if (!first_error[0]) {
            const char *e = dlerror();
            snprintf(first_error, sizeof first_error, "%s", e ? e : candidates[i]);
        }
    }
    cl_fail("no OpenCL library: %s", first_error);
    return NULL;
}

#define LOAD_SYM(field, sym)                                                   \
    do {                                                                       \
        *(void **)(&d->api.field) = dlsym(lib, sym);                           \
        if (!d->api.field)                                                     \
            return cl_fail("OpenCL library lacks %s", sym);                    \
    } while (0)

static int cl_init(struct cl_dev *d, int platform_index, size_t global, int gpu_only)
{
    void *lib = load_opencl();
    if (!lib)
        return -1;
    LOAD_SYM(GetPlatformIDs, "clGetPlatformIDs");
    LOAD_SYM(GetPlatformInfo, "clGetPlatformInfo");
    LOAD_SYM(GetDeviceIDs, "clGetDeviceIDs");
    LOAD_SYM(GetDeviceInfo, "clGetDeviceInfo");
    LOAD_SYM(CreateContext, "clCreateContext");
    LOAD_SYM(CreateCommandQueue, "clCreateCommandQueue");
    LOAD_SYM(CreateProgramWithSource, "clCreateProgramWithSource");
    LOAD_SYM(BuildProgram, "clBuildProgram");
    LOAD_SYM(GetProgramBuildInfo, "clGetProgramBuildInfo");
    LOAD_SYM(CreateKernel, "clCreateKernel");
    LOAD_SYM(CreateBuffer, "clCreateBuffer");
    LOAD_SYM(SetKernelArg, "clSetKernelArg");
    LOAD_SYM(EnqueueNDRangeKernel, "clEnqueueNDRangeKernel");
    LOAD_SYM(EnqueueWriteBuffer, "clEnqueueWriteBuffer");
    LOAD_SYM(Flush, "clFlush");
    LOAD_SYM(Finish, "clFinish");
    LOAD_SYM(GetEventProfilingInfo, "clGetEventProfilingInfo");
    LOAD_SYM(ReleaseEvent, "clReleaseEvent");
    LOAD_SYM(CreateUserEvent, "clCreateUserEvent");
    LOAD_SYM(SetUserEventStatus, "clSetUserEventStatus");

    cl_platform_id platforms[16];
    cl_uint np = 0;
    cl_int err = d->api.GetPlatformIDs(16, platforms, &np);
    if (err != CL_SUCCESS || np == 0)
        return cl_fail("no OpenCL platform (clGetPlatformIDs: %d, %u platforms)", err, np);
    if (platform_index >= (int)np)
        return cl_fail("OpenCL platform %d requested, %u present", platform_index, np);

    /* Pick the requested platform, or the first one with a GPU (or an
     * accelerator), else (unless `gpu_only`) the first device of any type. */
    cl_device_id dev = NULL;
    cl_platform_id plat = NULL;
    for (int pass = 0; pass < (gpu_only ? 1 : 2) && !dev; pass++) {
        for (cl_uint p = 0; p < np && !dev; p++) {
            if (platform_index >= 0 && (int)p != platform_index)
                continue;
            cl_uint nd = 0;
            cl_device_type type =
                pass == 0 ? CL_DEVICE_TYPE_GPU | CL_DEVICE_TYPE_ACCELERATOR : CL_DEVICE_TYPE_ALL;
            if (d->api.GetDeviceIDs(platforms[p], type, 1, &dev, &nd) != CL_SUCCESS || nd == 0)
                dev = NULL;
            else
                plat = platforms[p];
        }
    }
    if (!dev)
        return cl_fail(gpu_only ? "no OpenCL GPU on %u platform(s) (a CPU device is used only "
                                  "when asked for with -d opencl)"
                                : "no OpenCL device on %u platform(s)",
                       np);
    d->api.GetPlatformInfo(plat, CL_PLATFORM_NAME, sizeof d->platform, d->platform, NULL);
    d->api.GetDeviceInfo(dev, CL_DEVICE_NAME, sizeof d->device_name, d->device_name, NULL);
    d->api.GetDeviceInfo(dev, CL_DRIVER_VERSION, sizeof d->driver, d->driver, NULL);

    d->ctx = d->api.CreateContext(NULL, 1, &dev, NULL, NULL, &err);
    if (!d->ctx)
        return cl_fail("clCreateContext: %d", err);
    d->q = d->api.CreateCommandQueue(d->ctx, dev, CL_QUEUE_PROFILING_ENABLE, &err);
    if (!d->q)
        return cl_fail("clCreateCommandQueue: %d", err);
    cl_program prog = d->api.CreateProgramWithSource(d->ctx, 1, &cl_kernel_source, NULL, &err);
    if (!prog)
        return cl_fail("clCreateProgramWithSource: %d", err);
    err = d->api.BuildProgram(prog, 1, &dev, "", NULL, NULL);
    if (err != CL_SUCCESS) {
        char log[160] = "";
        d->api.GetProgramBuildInfo(prog, dev, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log, NULL);
        return cl_fail("clBuildProgram: %d: %s", err, log);
    }
    d->kernel = d->api.CreateKernel(prog, "klo_work", &err);
    if (!d->kernel)
        return cl_fail("clCreateKernel: %d", err);
    d->global = global;
    float *init = calloc(global, sizeof(float));
    if (!init)
        return cl_fail("out of memory");
    d->buf = d->api.CreateBuffer(d->ctx, CL_MEM_READ_WRITE, global * sizeof(float), NULL, &err);
    if (!d->buf)
        return cl_fail("clCreateBuffer: %d", err);
    /* The kernels read this buffer: a run on memory never written would
     * measure something else. */
    err = d->api.EnqueueWriteBuffer(d->q, d->buf, CL_TRUE, 0, global * sizeof(float), init, 0,
                                    NULL, NULL);
    free(init);
    if (err != CL_SUCCESS)
        die(4, "clEnqueueWriteBuffer (the kernels' buffer): %d", err);
    d->input_buf =
        d->api.CreateBuffer(d->ctx, CL_MEM_READ_WRITE, sizeof d->input, NULL, &err);
    if (!d->input_buf)
        return cl_fail("clCreateBuffer: %d", err);
    err = d->api.SetKernelArg(d->kernel, 0, sizeof(cl_mem), &d->buf);
    if (err != CL_SUCCESS)
        return cl_fail("clSetKernelArg: %d", err);
    return 0;
}

static int opencl_begin(struct device *dev, int n)
{
    struct cl_dev *d = (struct cl_dev *)dev;
    d->n = n;
    d->enqueued = 0;
    d->gate = NULL;
    return 0;
}

static int opencl_enqueue(struct device *dev, int i, unsigned long units)
{
    struct cl_dev *d = (struct cl_dev *)dev;
    /* Checked before the run (check_units): it fits a cl_uint. */
    cl_uint iters = (cl_uint)(units / d->global + 1);
    cl_int err = d->api.SetKernelArg(d->kernel, 1, sizeof iters, &iters);
    if (err != CL_SUCCESS)
        die(4, "clSetKernelArg: %d", err);
    cl_uint nwait = 0;
    const cl_event *wait = NULL;
    if (submit_deferred && !d->gate) {
        /* First kernel of a deferred batch: hold it behind a user event that
         * the flush completes; the in-order queue holds the rest. */
        d->gate = d->api.CreateUserEvent(d->ctx, &err);
        if (!d->gate)
            die(4, "clCreateUserEvent: %d", err);
        nwait = 1;
        wait = &d->gate;
    }
    err = d->api.EnqueueNDRangeKernel(d->q, d->kernel, 1, NULL, &d->global, NULL, nwait, wait,
                                      &d->events[i]);
    if (err != CL_SUCCESS)
        die(4, "clEnqueueNDRangeKernel: %d", err);
    d->enqueued = i + 1;
    return 0;
}

static int opencl_flush(struct device *dev)
{
    struct cl_dev *d = (struct cl_dev *)dev;
    if (d->gate) {
        /* A gate that cannot open holds the batch for ever, or lets the
         * driver run it at some other time: no time measured then is the
         * one asked for. */
        cl_int err = d->api.SetUserEventStatus(d->gate, CL_COMPLETE);
        if (err != CL_SUCCESS)
            die(4, "clSetUserEventStatus: %d", err);
        d->api.ReleaseEvent(d->gate);
        d->gate = NULL;
    }
    cl_int err = d->api.Flush(d->q);
    if (err != CL_SUCCESS)
        die(4, "clFlush: %d", err);
    return 0;
}

static int opencl_finish(struct device *dev, struct kernel_times *times)
{
    struct cl_dev *d = (struct cl_dev *)dev;
    if (d->gate)
        opencl_flush(dev);
    cl_int err = d->api.Finish(d->q);
    if (err != CL_SUCCESS)
        die(4, "clFinish: %d", err);
    for (int i = 0; i < d->n; i++) {
        cl_ulong s = 0, e = 0;
        /* A failed query leaves 0: a time computed from it would be a
         * finite, wrong number. */
        err = d->api.GetEventProfilingInfo(d->events[i], CL_PROFILING_COMMAND_START, sizeof s, &s,
                                           NULL);
        if (err != CL_SUCCESS)
            die(4, "clGetEventProfilingInfo(CL_PROFILING_COMMAND_START) of kernel %d: %d", i, err);
        err = d->api.GetEventProfilingInfo(d->events[i], CL_PROFILING_COMMAND_END, sizeof e, &e,
                                           NULL);
        if (err != CL_SUCCESS)
            die(4, "clGetEventProfilingInfo(CL_PROFILING_COMMAND_END) of kernel %d: %d", i, err);
        if (e < s)
            die(4, "kernel %d ends (%llu ns) before it starts (%llu ns): the device's timestamps "
                   "cannot be used", i, (unsigned long long)e, (unsigned long long)s);
        times[i].start_ns = s;
        times[i].end_ns = e;
        /* Only the timeline needs it: a driver that cannot say leaves the
         * timeline out, never a wrong time in it. */
        cl_ulong q = 0;
        if (d->api.GetEventProfilingInfo(d->events[i], CL_PROFILING_COMMAND_QUEUED, sizeof q, &q,
                                         NULL) != CL_SUCCESS || q > s)
            q = 0;
        times[i].queued_ns = q;
        d->api.ReleaseEvent(d->events[i]);
    }
    return 0;
}

static void opencl_input_upload(struct device *dev)
{
    struct cl_dev *d = (struct cl_dev *)dev;
    d->input[0] += 1.0f;
    cl_int err = d->api.EnqueueWriteBuffer(d->q, d->input_buf, CL_TRUE, 0, sizeof d->input,
                                           d->input, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        die(4, "clEnqueueWriteBuffer: %d", err);
}

static struct device *opencl_dev_create(int platform_index, size_t global, int gpu_only)
{
    struct cl_dev *d = calloc(1, sizeof *d);
    if (!d)
        die(4, "out of memory");
    if (cl_init(d, platform_index, global, gpu_only) != 0) {
        free(d);
        return NULL;
    }
    d->base.kind = "opencl";
    d->base.begin = opencl_begin;
    d->base.enqueue = opencl_enqueue;
    d->base.flush = opencl_flush;
    d->base.finish = opencl_finish;
    d->base.input_upload = opencl_input_upload;
    return &d->base;
}

/* Prints a value for the log contract's key="..." form: no quotes or
 * newlines inside. */
static void print_quoted(const char *key, const char *value)
{
    printf(" %s=\"", key);
    for (const char *p = value; *p; p++)
        putchar(*p == '"' || *p == '\n' || *p == '\\' ? '_' : *p);
    putchar('"');
}

/* ------------------------------------------------------------------- LUT */

/* A LUT (klo-spec's format): '#' lines, a header, then rows
 * "t_prod_us,t_ker_us,k_opt[,latency_us]". Lookup: the row nearest in
 * (ln T_prod, ln T_ker), the earlier row on a tie, as klo-spec does. */
#define MAX_LUT 4096
static double lut_prod[MAX_LUT], lut_ker[MAX_LUT];
static unsigned lut_k[MAX_LUT];
static int lut_n = 0;

static void load_lut(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        die(2, "cannot open the LUT %s: %s", path, strerror(errno));
    char line[256];
    while (fgets(line, sizeof line, f)) {
        double p, k;
        unsigned kopt;
        if (line[0] == '#' || sscanf(line, "%lf,%lf,%u", &p, &k, &kopt) != 3)
            continue;
        if (lut_n == MAX_LUT)
            die(2, "%s: more than %d rows", path, MAX_LUT);
        if (!(p > 0) || !(k > 0) || kopt == 0 || kopt > MAX_KERNELS || strchr(line, '-'))
            die(2, "%s: a row with a value out of range (times > 0, 1 <= k_opt <= %d)", path,
                MAX_KERNELS);
        lut_prod[lut_n] = log(p);
        lut_ker[lut_n] = log(k);
        lut_k[lut_n] = kopt;
        lut_n++;
    }
    fclose(f);
    if (lut_n == 0)
        die(2, "%s: no rows", path);
}

static unsigned lut_lookup(double t_prod_us, double t_ker_us)
{
    double x = log(t_prod_us > 1e-9 ? t_prod_us : 1e-9), y = log(t_ker_us > 1e-9 ? t_ker_us : 1e-9);
    int best = 0;
    double bd = 0;
    for (int i = 0; i < lut_n; i++) {
        double d = (lut_prod[i] - x) * (lut_prod[i] - x) + (lut_ker[i] - y) * (lut_ker[i] - y);
        if (i == 0 || d < bd) {
            best = i;
            bd = d;
        }
    }
    return lut_k[best];
}

/* A static flush schedule: one 0/1 per kernel (flush after it). */
static void load_schedule(const char *path, unsigned char *flush, int n)
{
    FILE *f = fopen(path, "r");
    if (!f)
        die(2, "cannot open the schedule %s: %s", path, strerror(errno));
    int i = 0, v;
    while (i < n && fscanf(f, "%d", &v) == 1)
        flush[i++] = v != 0;
    fclose(f);
    if (i != n)
        die(2, "%s: %d flush marks for %d kernels", path, i, n);
}

/* ------------------------------------------------------------------ main */

static void usage(void)
{
    fprintf(stderr,
            "usage: klo-probe -f KERNELS -n NET -i ITERS -k K [-s native|deferred]\n"
            "                 [-d auto|opencl|thread] [-P PLATFORM] [-g GLOBAL]\n"
            "                 [-F FLUSH_UNITS] [-U SUBMIT_US] [-S SCHEDULE | -L LUT]\n"
            "       klo-probe -L LUT -q T_PROD_US T_KER_US\n");
    exit(2);
}

static unsigned long parse_ul(const char *s, const char *what, unsigned long min,
                              unsigned long max)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (s[0] == '-' || errno || end == s || *end || v < min || v > max)
        die(2, "%s must be an integer in %lu..%lu, got '%s'", what, min, max, s);
    return v;
}

/* The command line. */
struct options {
    const char *kernels_path, *net, *device_arg;
    const char *schedule_path, *lut_path;
    unsigned long iters, k, global;
    int platform_index;
};

/* Reads the command line into `o`, and -s, -F and -U into the submission
 * settings. Query mode (-q) answers here and exits. */
static void parse_args(int argc, char **argv, struct options *o)
{
    o->kernels_path = NULL;
    o->net = NULL;
    o->device_arg = "auto";
    o->schedule_path = NULL;
    o->lut_path = NULL;
    o->iters = 0;
    o->k = 0;
    o->global = 64;
    o->platform_index = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == '\0' || a[2] != '\0' || i + 1 >= argc)
            usage();
        if (a[1] == 'q') {
            /* Query mode: print the LUT's K for (T_prod, T_ker). */
            if (!o->lut_path || i + 2 >= argc)
                usage();
            load_lut(o->lut_path);
            printf("%u\n", lut_lookup(atof(argv[i + 1]), atof(argv[i + 2])));
            exit(0);
        }
        const char *v = argv[++i];
        switch (a[1]) {
        case 'f': o->kernels_path = v; break;
        case 'n': o->net = v; break;
        case 'i': o->iters = parse_ul(v, "-i ITERS", 1, 1000000); break;
        case 'k': o->k = parse_ul(v, "-k K", 1, MAX_KERNELS); break;
        case 's':
            if (strcmp(v, "native") == 0)
                submit_deferred = 0;
            else if (strcmp(v, "deferred") == 0)
                submit_deferred = 1;
            else
                die(2, "-s must be native or deferred, got '%s'", v);
            break;
        case 'd':
            if (strcmp(v, "auto") && strcmp(v, "opencl") && strcmp(v, "thread"))
                die(2, "-d must be auto, opencl or thread, got '%s'", v);
            o->device_arg = v;
            break;
        case 'P': o->platform_index = (int)parse_ul(v, "-P PLATFORM", 0, 63); break;
        case 'g': o->global = parse_ul(v, "-g GLOBAL", 1, 1UL << 24); break;
        case 'F': flush_units = parse_ul(v, "-F FLUSH_UNITS", 0, 1UL << 30); break;
        case 'U': submit_latency_ns = 1000u * (uint64_t)parse_ul(v, "-U SUBMIT_US", 0, 10000000); break;
        case 'S': o->schedule_path = v; break;
        case 'L': o->lut_path = v; break;
        default: usage();
        }
    }
    if (!o->kernels_path || !o->net || o->iters == 0 ||
        (o->k == 0 && !o->schedule_path && !o->lut_path))
        usage();
    if (o->schedule_path && o->lut_path)
        die(2, "-S (a static schedule) and -L (dynamic K) exclude each other");
}

/* The device -d asks for: OpenCL unless `thread`; under `auto`, the thread
 * device when no OpenCL one opens (`*fallback` then says why). */
static struct device *open_device(const struct options *o, const char **fallback)
{
    struct device *dev = NULL;
    *fallback = NULL;
    if (strcmp(o->device_arg, "thread") != 0) {
        dev = opencl_dev_create(o->platform_index, (size_t)o->global,
                                strcmp(o->device_arg, "auto") == 0);
        if (!dev) {
            if (strcmp(o->device_arg, "opencl") == 0)
                die(3, "OpenCL device unavailable: %s", cl_error);
            *fallback = cl_error;
        }
    }
    if (!dev)
        dev = thread_dev_create();
    return dev;
}

/* The OpenCL kernel counts its iterations in a cl_uint: a kernel whose
 * work does not fit is refused, never run with a truncated count. */
static void check_iterations(const struct device *dev, const struct kernel_spec *ks, int n,
                             unsigned long global)
{
    if (strcmp(dev->kind, "opencl") != 0)
        return;
    for (int i = 0; i < n; i++) {
        unsigned long long iters = (unsigned long long)(ks[i].ker_units / global) + 1;
        if (iters > UINT32_MAX)
            die(2, "kernel %s: %lu device units make %llu iterations per work-item, more "
                   "than OpenCL's cl_uint holds (%lu); raise -g GLOBAL or lower the units",
                ks[i].name, ks[i].ker_units, iters, (unsigned long)UINT32_MAX);
    }
}

/* The log's info line: the probe's settings and the device it runs on. */
static void print_info(const struct options *o, struct device *dev, int n, const char *mode,
                       const char *fallback)
{
    printf("KLO v1 info probe=%s device=%s submit=%s net=%s kernels=%d iters=%lu k=%lu mode=%s "
           "flush_units=%lu submit_us=%.0f global=%lu",
           PROBE_VERSION, dev->kind, submit_deferred ? "deferred" : "native", o->net, n, o->iters,
           o->k, mode, flush_units, (double)submit_latency_ns / 1e3, o->global);
    if (fallback)
        print_quoted("fallback", fallback);
    if (strcmp(dev->kind, "opencl") == 0) {
        struct cl_dev *c = (struct cl_dev *)dev;
        print_quoted("opencl_platform", c->platform);
        print_quoted("opencl_device", c->device_name);
        print_quoted("opencl_driver", c->driver);
    }
    putchar('\n');
    fflush(stdout);
}

/* Dynamic K: T_prod and T_ker of earlier inferences (first kernel's
 * T_prod left out, as in every mean klo-spec reports). */
struct history {
    double prod, ker;
    long prod_n, ker_n;
};

/* One inference as measured, per kernel, and its start and end. */
struct inference {
    double prod_ns[MAX_KERNELS], flush_ns[MAX_KERNELS];
    uint64_t enq_at[MAX_KERNELS]; /* host clock when kernel i was enqueued */
    unsigned char flushed[MAX_KERNELS];
    unsigned k_of[MAX_KERNELS];
    struct kernel_times times[MAX_KERNELS];
    uint64_t t0, t1;
    int flushes;
};

/* Runs one inference: each kernel's host work and enqueue, a flush at the
 * end of each batch (K kernels, the schedule's, or the LUT's K), then
 * waits for the device. */
static void run_inference(const struct options *o, struct device *dev,
                          const struct kernel_spec *ks, int n, const unsigned char *schedule,
                          const struct history *h, struct inference *r)
{
    r->flushes = 0;
    memset(r->flushed, 0, sizeof r->flushed);
    dev->begin(dev, n);
    r->t0 = now_ns();
    /* The input upload belongs to the first kernel's production time,
     * as in a real engine: that is why its T_prod is an outlier. */
    dev->input_upload(dev);
    uint64_t mark = r->t0;
    int left = 0; /* kernels left in the current batch */
    unsigned k_cur = (unsigned)o->k;
    double cur_prod = 0;
    long cur_n = 0;
    for (int i = 0; i < n; i++) {
        if (left == 0) {
            /* A batch starts: how many kernels will it hold? */
            if (o->schedule_path) {
                int j = i;
                while (j < n - 1 && !schedule[j])
                    j++;
                k_cur = (unsigned)(j - i + 1);
            } else if (o->lut_path) {
                double tp = cur_n > 0 ? cur_prod / cur_n : h->prod_n > 0 ? h->prod / h->prod_n : -1;
                double tk = h->ker_n > 0 ? h->ker / h->ker_n : -1;
                /* Nothing measured yet (the warm-up's start): flush
                 * every kernel until there is. */
                k_cur = (tp > 0 && tk > 0) ? lut_lookup(tp / 1e3, tk / 1e3) : 1;
            }
            left = (int)k_cur;
        }
        host_work(ks[i].prod_units);
        dev->enqueue(dev, i, ks[i].ker_units);
        uint64_t after = now_ns();
        r->enq_at[i] = after;
        r->prod_ns[i] = ns_between(mark, after);
        if (i > 0) {
            cur_prod += r->prod_ns[i];
            cur_n++;
        }
        r->k_of[i] = k_cur;
        left--;
        r->flush_ns[i] = 0;
        if (left == 0 || i == n - 1) {
            host_work(flush_units);
            dev->flush(dev);
            mark = now_ns();
            r->flush_ns[i] = ns_between(after, mark);
            r->flushed[i] = 1;
            r->flushes++;
            left = 0;
        } else {
            mark = after;
        }
    }
    dev->finish(dev, r->times);
    r->t1 = now_ns();
}

/* Prints inference `it`: a line per kernel, then its latency; adds its
 * times to the history. */
static void print_inference(const struct options *o, const struct device *dev,
                            const struct kernel_spec *ks, int n, unsigned long it,
                            const struct inference *r, struct history *h)
{
    const struct kernel_times *times = r->times;
    uint64_t t0 = r->t0;
    /* The timeline: host and device times on one axis, from the
     * inference's start (the host clock). A device clock of its own is
     * tied to the host's at the first kernel: it was queued when the
     * host enqueued it. */
    int timeline = dev->host_clock || times[0].queued_ns != 0;
    for (int i = 0; i < n; i++) {
        double ker = ns_between(times[i].start_ns, times[i].end_ns);
        printf("KLO v1 net=%s iter=%lu kernel=%d name=%s t_prod_us=%.1f t_ker_us=%.1f ", o->net,
               it, i, ks[i].name, r->prod_ns[i] / 1e3, ker / 1e3);
        if (i == 0)
            printf("t_idle_us=nan");
        else
            printf("t_idle_us=%.1f", ns_between(times[i - 1].end_ns, times[i].start_ns) / 1e3);
        printf(" flush=%d k=%u", r->flushed[i], r->k_of[i]);
        if (r->flushed[i])
            printf(" t_flush_us=%.1f", r->flush_ns[i] / 1e3);
        if (timeline) {
            double s_us, e_us;
            if (dev->host_clock) {
                s_us = ns_between(t0, times[i].start_ns) / 1e3;
                e_us = ns_between(t0, times[i].end_ns) / 1e3;
            } else {
                double base = ns_between(t0, r->enq_at[0]);
                s_us = (base + ns_between(times[0].queued_ns, times[i].start_ns)) / 1e3;
                e_us = (base + ns_between(times[0].queued_ns, times[i].end_ns)) / 1e3;
            }
            printf(" t_enq_us=%.1f t_start_us=%.1f t_end_us=%.1f",
                   ns_between(t0, r->enq_at[i]) / 1e3, s_us, e_us);
        }
        putchar('\n');
        h->ker += ker;
        h->ker_n++;
        if (i > 0) {
            h->prod += r->prod_ns[i];
            h->prod_n++;
        }
    }
    printf("KLO v1 net=%s iter=%lu latency_us=%.1f flushes=%d k_mean=%.2f\n", o->net, it,
           ns_between(t0, r->t1) / 1e3, r->flushes, (double)n / r->flushes);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct options o;
    parse_args(argc, argv, &o);

    static struct kernel_spec ks[MAX_KERNELS];
    int n = load_kernels(o.kernels_path, ks);
    static unsigned char schedule[MAX_KERNELS];
    if (o.schedule_path)
        load_schedule(o.schedule_path, schedule, n);
    if (o.lut_path)
        load_lut(o.lut_path);
    const char *mode = o.lut_path ? "dynamic" : o.schedule_path ? "static" : "fixed";

    const char *fallback;
    struct device *dev = open_device(&o, &fallback);
    check_iterations(dev, ks, n, o.global);
    print_info(&o, dev, n, mode, fallback);

    static struct inference r;
    struct history h = {0, 0, 0, 0};
    for (unsigned long it = 0; it < o.iters; it++) {
        run_inference(&o, dev, ks, n, schedule, &h, &r);
        print_inference(&o, dev, ks, n, it, &r, &h);
    }
    printf("KLO v1 end iters=%lu\n", o.iters);
    fflush(stdout);
    return 0;
}
