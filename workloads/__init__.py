"""Network descriptions and training steps (issue 6); independent of the simulator.

API:

    from mcusim.workloads import networks, model, reference, planner

    desc = networks.get("resnet8")              # also "dscnn", and single layers with shapes:
    desc = networks.single_conv2d(cin=8, h=8, w=8, cout=16, kernel=3)   # ..._pointwise/_depthwise/_linear
    net = model.build(desc)                     # or model.build("resnet8"); ModelError names the layer
    net.layers, net.layer("s2_conv1").out_shape, net.schedule()      # [(Layer, Phase), ...] in step order
    net.macs(), net.macs(model.Phase.WEIGHT_GRAD), net.mac_table(), net.summary()
    net.param_bytes("fp16"), net.activation_bytes("fp32"), layer.macs(phase), layer.conv_geom_args()

    params = reference.init_params(net, seed=0, precision="fp32")   # "fp32" | "fp16" | "fp64"
    x, t = reference.random_input(net, 0), reference.random_target(net, 0)
    r = reference.train_step(net, params, x, t, lr=0.01, precision="fp32")
    r.loss, r.outputs[name], r.grads[name], r.weight_grads[name], r.params[name]
    reference.layer_forward / layer_weight_grad / layer_input_grad / loss_grad / sgd_update (one op)

    plan = planner.plan_network(net, "fp32", tcdm_bytes=256 * 1024, reserve_bytes=9 * 1024)
    plan.step("s1_conv1", model.Phase.FORWARD).tiles, plan.tiled_layers, planner.format_plan(plan)
    # PlanError when a step does not fit even as its smallest tile (names layer, phase, bytes)

Modules: `networks` (descriptions as data: ResNet8 and DS-CNN of MLPerf Tiny, single layers),
`model` (layer graph, shapes, gradient flow, MAC counting rule, sizes), `reference` (numpy training
step, im2col/col2im), `planner` (TCDM placement, tiling, DMA bytes, double buffering).
"""
