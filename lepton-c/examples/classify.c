/* A C program running the engine through its C ABI: a few ops checked against plain C
 * loops, the typed errors that bad calls get, and a saved model's forward pass over rows
 * read from a file, compared with the outputs expected for them.
 *
 * Build and run from the repository root:
 *   cargo build --release -p lepton-c
 *   cc -std=c11 -Wall -Wextra -Werror -I lepton-c/include lepton-c/examples/classify.c \
 *      -L target/release -llepton_c -Wl,-rpath,"$PWD/target/release" -lm -o classify
 *   ./classify DEVICE MODEL.safetensors ROWS.f32 EXPECTED.f32
 * DEVICE is cpu, gpu, gpu:N or auto; MODEL a checkpoint of `lepton train mlp --save`;
 * ROWS.f32 and EXPECTED.f32 hold the inputs and the expected outputs as little-endian
 * float32 values, row-major. Exits 0 when every check passes. */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lepton.h"

static int failures = 0;

static void check(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "FAILED: %s (last error: %s)\n", what, lepton_last_error());
        failures++;
    }
}

/* |got - want| <= tolerance * (1 + |want|) for each of n values. */
static int close_to(const float *got, const double *want, size_t n, double tolerance) {
    for (size_t i = 0; i < n; i++) {
        if (!(fabs((double)got[i] - want[i]) <= tolerance * (1.0 + fabs(want[i])))) {
            fprintf(stderr, "value %zu: got %.9g, want %.9g\n", i, got[i], want[i]);
            return 0;
        }
    }
    return 1;
}

/* softmax(relu(a b + bias)) of a [2, 3] and b [3, 4], against the same in C loops. */
static void ops(const LeptonDevice *device) {
    const float a[6] = {0.5f, -1.0f, 2.0f, 1.5f, 0.25f, -0.75f};
    const float b[12] = {1, 0, -1, 2, 0.5f, 1, 0, -1, -0.5f, 2, 1, 0.25f};
    const float bias[4] = {0.1f, -0.2f, 0.3f, 0.0f};
    const size_t a_shape[2] = {2, 3}, b_shape[2] = {3, 4}, bias_shape[1] = {4};
    double want[8];
    for (int i = 0; i < 2; i++) {
        double row[4], top = 0, total = 0;
        for (int j = 0; j < 4; j++) {
            row[j] = bias[j];
            for (int k = 0; k < 3; k++) row[j] += (double)a[i * 3 + k] * b[k * 4 + j];
            row[j] = row[j] > 0 ? row[j] : 0;
            top = row[j] > top ? row[j] : top;
        }
        for (int j = 0; j < 4; j++) total += exp(row[j] - top);
        for (int j = 0; j < 4; j++) want[i * 4 + j] = exp(row[j] - top) / total;
    }
    LeptonTensor *ta = lepton_tensor_from_f32(device, a, a_shape, 2);
    LeptonTensor *tb = lepton_tensor_from_f32(device, b, b_shape, 2);
    LeptonTensor *tbias = lepton_tensor_from_f32(device, bias, bias_shape, 1);
    LeptonTensor *product = lepton_matmul(ta, tb);
    LeptonTensor *shifted = lepton_add(product, tbias);
    LeptonTensor *active = lepton_relu(shifted);
    LeptonTensor *probabilities = lepton_softmax(active, -1);
    check(probabilities != NULL, "softmax(relu(a b + bias))");
    size_t shape[2] = {0, 0};
    check(lepton_tensor_shape(probabilities, shape, 2) == LEPTON_STATUS_OK && shape[0] == 2 &&
              shape[1] == 4,
          "the result's shape is [2, 4]");
    float got[8];
    check(lepton_tensor_read_f32(probabilities, got, 8) == LEPTON_STATUS_OK, "reading it");
    /* float32 through a sum of 3 products, an exp and a division: a few ulp. */
    check(close_to(got, want, 8, 1e-6), "it matches the C loops");

    /* What bad calls get: a typed status and a message, never a crash. */
    LeptonTensor *bad = lepton_matmul(ta, ta);
    check(bad == NULL && lepton_last_status() == LEPTON_STATUS_SHAPE &&
              strstr(lepton_last_error(), "[2, 3]") != NULL,
          "a [2, 3] by [2, 3] product is a shape error naming the shapes");
    printf("a bad product: %s\n", lepton_last_error());
    check(lepton_tensor_read_f32(probabilities, got, 7) == LEPTON_STATUS_INVALID_ARGUMENT,
          "reading into a buffer of the wrong size is refused");
    check(lepton_relu(NULL) == NULL && lepton_last_status() == LEPTON_STATUS_INVALID_ARGUMENT,
          "a NULL tensor is refused");
    check(lepton_device_new("tpu") == NULL && lepton_last_status() == LEPTON_STATUS_DEVICE,
          "an unknown device is refused");
    check(lepton_model_load(device, "no/such/model.safetensors") == NULL &&
              lepton_last_status() == LEPTON_STATUS_FILE,
          "a missing model file is refused");

    lepton_tensor_free(probabilities);
    lepton_tensor_free(active);
    lepton_tensor_free(shifted);
    lepton_tensor_free(product);
    lepton_tensor_free(tbias);
    lepton_tensor_free(tb);
    lepton_tensor_free(ta);
    lepton_tensor_free(bad);
}

/* The float32 values in the file at path; their count in *count. */
static float *read_floats(const char *path, size_t *count) {
    FILE *file = fopen(path, "rb");
    if (file == NULL) return NULL;
    fseek(file, 0, SEEK_END);
    long bytes = ftell(file);
    fseek(file, 0, SEEK_SET);
    float *values = malloc(bytes > 0 ? (size_t)bytes : 1);
    *count = values != NULL && bytes > 0 ? fread(values, sizeof(float), (size_t)bytes / 4, file) : 0;
    fclose(file);
    return values;
}

static void model(const LeptonDevice *device, const char *path, const char *rows_path,
                  const char *expected_path) {
    LeptonModel *m = lepton_model_load(device, path);
    check(m != NULL, "loading the model");
    if (m == NULL) return;
    size_t inputs = lepton_model_inputs(m), outputs = lepton_model_outputs(m);
    size_t n_values = 0, n_expected = 0;
    float *rows = read_floats(rows_path, &n_values);
    float *expected = read_floats(expected_path, &n_expected);
    check(rows != NULL && expected != NULL && inputs > 0 && n_values % inputs == 0 &&
              n_expected == n_values / inputs * outputs,
          "the rows and the expected outputs fit the model");
    if (failures == 0) {
        size_t shape[2] = {n_values / inputs, inputs};
        LeptonTensor *x = lepton_tensor_from_f32(device, rows, shape, 2);
        LeptonTensor *y = lepton_model_forward(m, x);
        float *got = malloc(n_expected * sizeof(float));
        double *want = malloc(n_expected * sizeof(double));
        for (size_t i = 0; i < n_expected; i++) want[i] = expected[i];
        check(y != NULL && lepton_tensor_read_f32(y, got, n_expected) == LEPTON_STATUS_OK,
              "the model's forward pass");
        /* float32 through products of at most a few hundred terms against a float64
         * reference: within 1e-4 of values of order 1. */
        check(close_to(got, want, n_expected, 1e-4), "its outputs match the expected ones");
        printf("%zu rows of %zu values through the model: %zu outputs each, first %.6f\n",
               shape[0], inputs, outputs, got[0]);
        LeptonTensor *columns = lepton_transpose(x, 0, 1);
        check(lepton_model_forward(m, columns) == NULL &&
                  lepton_last_status() == LEPTON_STATUS_SHAPE,
              "rows of the wrong width are a shape error");
        lepton_tensor_free(columns);
        free(want);
        free(got);
        lepton_tensor_free(y);
        lepton_tensor_free(x);
    }
    free(rows);
    free(expected);
    lepton_model_free(m);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s DEVICE MODEL.safetensors ROWS.f32 EXPECTED.f32\n", argv[0]);
        return 2;
    }
    LeptonDevice *device = lepton_device_new(argv[1]);
    if (device == NULL) {
        fprintf(stderr, "no device %s: %s\n", argv[1], lepton_last_error());
        return 1;
    }
    printf("device %s (%s)\n", argv[1], lepton_device_is_gpu(device) ? "a GPU" : "the CPU path");
    ops(device);
    model(device, argv[2], argv[3], argv[4]);
    lepton_device_free(device);
    if (failures > 0) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
