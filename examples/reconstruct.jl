# Simulate noisy cryo-EM projections of a phantom and reconstruct it with RecovarCore's
# exported API (the same steps as docs/julia.md). Run:
#   julia --project=julia/RecovarCore examples/reconstruct.jl
using RecovarCore, Random

rng = MersenneTwister(2024)
n, pixel_size = 32, 4.0                       # box (pixels), Å per pixel; Nyquist 8 Å

# A phantom: 30 Gaussian "atoms" of 1.2 pixels in real space, then its centered spectrum.
phantom = zeros(Float32, n, n, n)
for atom in 1:30
    center = n ÷ 2 .+ 5 .* randn(rng, 3)
    for z in 1:n, y in 1:n, x in 1:n
        r2 = (x - 1 - center[1])^2 + (y - 1 - center[2])^2 + (z - 1 - center[3])^2
        phantom[x, y, z] += exp(-r2 / (2 * 1.2^2))
    end
end
truth = centered_fft(phantom)                 # (32, 32, 32) ComplexF32

# Poses, CTFs and the forward model A v = CTF ⊙ (P v).
m = 4000
poses = random_rotations(rng, m)
params = [CTFParams(defocus_u=d, defocus_v=d - 500, defocus_angle=180 * rand(rng), bfactor=50)
          for d in 10000 .+ 15000 .* rand(rng, m)]
P = ProjectionPlan(Linear(), (n, n, n), poses)
A = ForwardModel(P; ctf=params, pixel_size=pixel_size)
clean = A * truth                             # (32, 32, 4000) image spectra

# Noise in real space: white, with the variance of the clean images (SNR 1).
images = real(centered_ifft(clean, 1:2))
σ = sqrt(sum(abs2, images) / length(images))
spectra = centered_fft(images .+ σ .* randn(rng, Float32, size(images)), 1:2)
noise_power = σ^2 * n^2                       # variance of a Fourier coefficient of the noise

# CTF-weighted backprojection of each half of the images: Aᵀy and Pᵀ(CTF²).
grid = ImageGrid(n, pixel_size)
function backproject(half)
    Ph = ProjectionPlan(Linear(), (n, n, n), poses[half])
    Ah = ForwardModel(Ph; ctf=params[half], pixel_size=pixel_size)
    return Ah' * spectra[:, :, half], Ph' * ctf(params[half], grid) .^ 2
end
b1, w1 = backproject(1:2:m)
b2, w2 = backproject(2:2:m)

# Wiener filter: v = Aᵀy / (Pᵀ(CTF²) + σ²/S(k)), with the signal power S per shell taken
# from the cross power of the two unregularised half maps.
c = n ÷ 2 + 1
shell = [round(Int, sqrt((x - c)^2 + (y - c)^2 + (z - c)^2)) for x in 1:n, y in 1:n, z in 1:n]
h1 = b1 ./ max.(w1, 1f-3)
h2 = b2 ./ max.(w2, 1f-3)
cross = zeros(maximum(shell) + 1)
count = zeros(maximum(shell) + 1)
for k in eachindex(shell)
    cross[shell[k] + 1] += real(h1[k] * conj(h2[k]))
    count[shell[k] + 1] += 1
end
signal_power = max.(cross ./ count, 1e-6 * maximum(cross ./ count))
reconstruction = (b1 .+ b2) ./ (w1 .+ w2 .+ Float32.(noise_power ./ signal_power[shell .+ 1]))

# Quality: the FSC against the phantom and its 0.5 crossing.
curve = fsc(reconstruction, truth)
res = resolution(curve, n, pixel_size; threshold=0.5)
println("FSC vs phantom per shell: ", round.(curve; digits=2))
println("resolution (FSC = 0.5 vs phantom): ",
        res === nothing ? "better than $(2pixel_size) Å (Nyquist)" : "$(round(res; digits=1)) Å")
