//! Bad input gets a typed error naming the op, the shapes and the caller's line; never a panic.

mod common;

use lepton::{DType, Device, Error, Tensor};

fn t(shape: &[usize], device: &Device) -> Tensor {
    Tensor::zeros(shape, DType::F32, device).unwrap()
}

common::on_every_device! {
    fn incompatible_shapes_for_every_binary_op_and_matmul(device) {
        let (a, b) = (t(&[2, 3], &device), t(&[4, 3], &device));
        for &op in lepton::BinaryOp::ALL {
            let err = a.binary(op, &b).unwrap_err();
            let Error::ShapeMismatch {
                op: name,
                lhs,
                rhs,
                location,
                ..
            } = &err
            else {
                panic!("{op:?}: {err}")
            };
            assert_eq!(
                (*name, &lhs[..], &rhs[..]),
                (op.name(), &[2, 3][..], &[4, 3][..])
            );
            assert!(
                location.file().ends_with("errors.rs"),
                "the caller's line: {location}"
            );
            assert!(err.to_string().contains("errors.rs"), "{err}");
        }
        let err = a.matmul(&t(&[4, 5], &device)).unwrap_err();
        assert!(
            matches!(err, Error::ShapeMismatch { op: "matmul", .. }),
            "{err}"
        );
        assert!(
            err.to_string().contains("inner dimensions differ: 3 vs 4"),
            "{err}"
        );
        let err = t(&[2, 2, 3], &device)
            .matmul(&t(&[3, 3, 4], &device))
            .unwrap_err();
        assert!(err.to_string().contains("batch"), "{err}");
        assert!(matches!(
            t(&[], &device).matmul(&a),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(matches!(
            a.where_cond(&a, &b),
            Err(Error::ShapeMismatch { op: "where", .. })
        ));
        assert!(matches!(
            Tensor::concat(&[&a, &t(&[2, 4], &device)], 0),
            Err(Error::ShapeMismatch { op: "concat", .. })
        ));
        assert!(matches!(
            a.broadcast_to(&[3, 3]),
            Err(Error::ShapeMismatch { .. })
        ));
    }
}

#[test]
fn axes_out_of_range() {
    let a = t(&[2, 3], &Device::cpu());
    for result in [
        a.sum(&[2], false),
        a.mean(&[-3], true),
        a.transpose(0, 5),
        a.slice(2, 0, 1, 1),
        a.unsqueeze(4),
    ] {
        assert!(
            matches!(result, Err(Error::AxisOutOfRange { .. })),
            "{result:?}"
        );
    }
    assert!(matches!(
        a.sum(&[1, -1], false),
        Err(Error::InvalidArgument { op: "sum", .. })
    ));
    assert!(matches!(
        a.permute(&[0, 0]),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(a.squeeze(0), Err(Error::InvalidArgument { .. })));
    assert!(matches!(
        a.slice(0, 0, 1, 0),
        Err(Error::InvalidArgument { .. })
    ));
}

#[test]
fn reshape_to_a_different_element_count() {
    let a = t(&[2, 3], &Device::cpu());
    for shape in [&[7][..], &[4, -1], &[-1, -1], &[0, -1], &[-2, 3]] {
        let err = a.reshape(shape).unwrap_err();
        assert!(
            matches!(err, Error::ReshapeNumel { .. }),
            "{shape:?}: {err}"
        );
    }
    assert!(a.reshape(&[3, -1]).is_ok());
}

#[test]
fn data_length_not_matching_the_shape() {
    let err = Tensor::from_vec(vec![1.0f32; 5], &[2, 3], &Device::cpu()).unwrap_err();
    let Error::DataLength { expected, got, .. } = err else {
        panic!("{err}")
    };
    assert_eq!((expected, got), (6, 5));
    assert!(
        matches!(
            Tensor::from_vec(vec![0f32; 9], &[1; 9], &Device::cpu()),
            Err(Error::InvalidArgument { .. })
        ),
        "rank over 8"
    );
    assert!(
        matches!(
            Tensor::ones(&[1; 9], DType::F32, &Device::cpu()),
            Err(Error::InvalidArgument { .. })
        ),
        "rank over 8"
    );
}

#[test]
fn wrong_dtypes() {
    let cpu = Device::cpu();
    let a = t(&[2], &cpu);
    let b = Tensor::zeros(&[2], DType::F64, &cpu).unwrap();
    assert!(matches!(
        a.add(&b),
        Err(Error::DtypeMismatch {
            lhs: DType::F32,
            rhs: DType::F64,
            ..
        })
    ));
    assert!(matches!(a.matmul(&b), Err(Error::DtypeMismatch { .. })));
    assert!(matches!(
        a.to_vec::<f64>(),
        Err(Error::DtypeMismatch { op: "to_vec", .. })
    ));
    assert!(matches!(
        a.item::<f32>(),
        Err(Error::InvalidArgument { op: "item", .. })
    ));
}

#[test]
fn tensors_from_two_devices_in_one_op() {
    let Some(gpu) = common::gpu() else { return };
    let (a, b) = (t(&[2], &Device::cpu()), t(&[2], &gpu));
    for result in [
        a.add(&b),
        a.matmul(&b),
        Tensor::concat(&[&a, &b], 0),
        a.where_cond(&a, &b),
    ] {
        let err = result.unwrap_err();
        assert!(matches!(err, Error::DeviceMismatch { .. }), "{err}");
        assert!(
            err.to_string().contains("cpu") && err.to_string().contains("gpu"),
            "{err}"
        );
    }
}

#[test]
fn buffers_beyond_the_adapters_limits() {
    let Some(gpu) = common::gpu() else { return };
    let Device::Gpu(ctx) = &gpu else {
        unreachable!()
    };
    let limits = ctx.limits();
    // One f32 past the largest binding: an error when realized, not an abort.
    let n = limits.max_storage_buffer_binding_size as usize / 4 + 1;
    let err = Tensor::zeros(&[n], DType::F32, &gpu)
        .unwrap()
        .exp()
        .to_vec::<f32>()
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::BufferTooLarge {
                limit_name: "max_storage_buffer_binding_size",
                ..
            }
        ),
        "{err}"
    );
    let huge = (limits.max_buffer_size / 4 + 1) as usize;
    let err = Tensor::zeros(&[huge], DType::F32, &gpu)
        .unwrap()
        .to_vec::<f32>()
        .unwrap_err();
    assert!(matches!(err, Error::BufferTooLarge { .. }), "{err}");
    // The device still works afterwards.
    common::assert_works(&gpu);
}

#[test]
fn unknown_device_names() {
    for name in ["tpu", "gpu:x", "cuda"] {
        assert!(
            matches!(Device::parse(name), Err(Error::UnknownDevice { .. })),
            "{name}"
        );
    }
    let err = Device::parse("gpu:99").unwrap_err();
    assert!(matches!(err, Error::NoAdapter { .. }), "{err}");
    assert!(
        err.to_string().contains("mesa-vulkan-drivers"),
        "the message says how to get an adapter: {err}"
    );
}

/// Shapes past what memory can address are refused where they are made, and a tensor too
/// large for this machine's memory is an `OutOfMemory` error when realized, not an abort;
/// the CPU path works on afterwards.
#[test]
fn shapes_too_large_for_memory() {
    let cpu = Device::cpu();
    let huge = 1usize << 33;
    let refused = |r: lepton::Result<Tensor>, what: &str| {
        let err = r.err().unwrap_or_else(|| panic!("{what}: accepted"));
        assert!(
            matches!(err, Error::InvalidArgument { .. }),
            "{what}: {err}"
        );
    };
    refused(Tensor::zeros(&[huge, huge], DType::F32, &cpu), "zeros");
    // 2^66 elements, which wrap to 0 in a usize: not the empty tensor's count.
    refused(
        t(&[0], &cpu).reshape(&[huge as isize, huge as isize]),
        "a reshape of nothing",
    );
    let empty = t(&[0], &cpu).reshape(&[huge as isize, huge as isize, 0]);
    assert_eq!(empty.unwrap().shape(), &[huge, huge, 0]);
    let column = t(&[1, 1], &cpu).broadcast_to(&[huge, 1]).unwrap();
    let row = t(&[1, 1], &cpu).broadcast_to(&[1, huge]).unwrap();
    refused(column.binary(lepton::BinaryOp::Add, &row), "a broadcast");
    let err = Tensor::zeros(&[1 << 40], DType::F32, &cpu)
        .unwrap()
        .exp()
        .realize()
        .unwrap_err();
    assert!(
        matches!(err, Error::OutOfMemory { bytes, .. } if bytes == 4 << 40),
        "{err}"
    );
    common::assert_works(&cpu);
}
